package coap

import (
	"log/slog"
	"testing"

	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols/coap/coapsim"
)

func startSim(t *testing.T, addr string, opts ...coapsim.Option) *coapsim.Sim {
	t.Helper()
	start := func() (*coapsim.Sim, error) { return coapsim.Start(addr, slog.New(slog.DiscardHandler), opts...) }
	return testserver.Started(t, "sim", start)
}
