package opcuasim

import (
	"fmt"
	"log/slog"
)

// printfLogger adapts slog to gopcua's server.Logger. slog.Logger satisfies
// that interface by its method set, but the server calls it printf-style
// ("... %s", err), which slog would render as !BADKEY attributes.
type printfLogger struct{ l *slog.Logger }

func (p printfLogger) Debug(msg string, args ...any) { p.l.Debug(sprintf(msg, args)) }
func (p printfLogger) Info(msg string, args ...any)  { p.l.Info(sprintf(msg, args)) }
func (p printfLogger) Warn(msg string, args ...any)  { p.l.Warn(sprintf(msg, args)) }
func (p printfLogger) Error(msg string, args ...any) { p.l.Error(sprintf(msg, args)) }

func sprintf(msg string, args []any) string {
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}
