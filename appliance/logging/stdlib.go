package logging

import (
	"log"
	"log/slog"
	"strings"
)

// CaptureStdlib sends what is written through the standard library's log
// package to l at debug level, one record per line. The appliance itself
// never writes there; libraries do (gopcua's server prints its start-up
// steps, "doing BaseDataType"), which are their progress, not the
// appliance's news, and which would otherwise bypass the configured format.
// The log package's output is process-wide, so only main calls this.
func CaptureStdlib(l *slog.Logger) {
	log.SetFlags(0)
	log.SetOutput(stdlibWriter{l.With("component", "stdlib")})
}

type stdlibWriter struct{ l *slog.Logger }

func (w stdlibWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.l.Debug(line)
	}
	return len(p), nil
}
