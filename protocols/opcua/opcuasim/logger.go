package opcuasim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
)

// printfLogger adapts slog to gopcua's server.Logger. slog.Logger satisfies
// that interface by its method set, but the server calls it printf-style
// ("... %s", err), which slog would render as !BADKEY attributes.
type printfLogger struct{ l *slog.Logger }

func (p printfLogger) Debug(msg string, args ...any) { p.l.Debug(sprintf(msg, args)) }
func (p printfLogger) Info(msg string, args ...any)  { p.l.Info(sprintf(msg, args)) }
func (p printfLogger) Warn(msg string, args ...any)  { p.log(slog.LevelWarn, msg, args) }
func (p printfLogger) Error(msg string, args ...any) { p.log(slog.LevelError, msg, args) }

func (p printfLogger) log(level slog.Level, msg string, args []any) {
	if benign(msg, args) {
		level = slog.LevelDebug
	}
	p.l.Log(context.Background(), level, sprintf(msg, args))
}

// benign says whether a warning or error of gopcua v0.8.0's server reports
// nothing wrong, so that a healthy simulator logs no WARN or ERROR line.
// Each is matched by its exact format string:
//   - "Duplicate reference type %s": the server imports its own built-in
//     namespace 0, whose aliases name the reference types it has just
//     defined, and it reports each of them (about twenty) as a duplicate.
//     Nothing is lost: the first definition is kept.
//   - "socket closed: %s" with net.ErrClosed: the accept loop's only way to
//     end is its listener being closed, by Close.
//   - "Secure Channel %d closed": a client closed its channel (EOF), as every
//     client does when it is done, the appliance's endpoint discovery first.
//   - "Context done, closing Secure Channel %d": the server stopping.
//
// Any other message, or these with another cause, keeps its level.
func benign(format string, args []any) bool {
	switch format {
	case "Duplicate reference type %s", "Secure Channel %d closed", "Context done, closing Secure Channel %d":
		return true
	case "socket closed: %s":
		err, ok := firstArg(args).(error)
		return ok && errors.Is(err, net.ErrClosed)
	}
	return false
}

func firstArg(args []any) any {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

func sprintf(msg string, args []any) string {
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}
