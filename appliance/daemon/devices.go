package daemon

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/protocols"
	// Every protocol registers itself; sources finds them by name.
	_ "github.com/wotchain/wotchain/protocols/all"
)

// sources builds the configured devices of one appliance run. Each
// protocol's constructor is made once per run, so its devices share the
// protocol's per-run state (Modbus: one connection and lock per port or
// serial line) and nothing is shared between runs.
type sources struct {
	cfg  *config.Config
	log  *slog.Logger
	news map[protocols.Name]protocols.NewSource
}

func newSources(cfg *config.Config, log *slog.Logger) *sources {
	// Made up front, so build only reads the map.
	news := map[protocols.Name]protocols.NewSource{}
	for _, p := range protocols.All() {
		news[p.Name] = p.Sources()
	}
	return &sources{cfg: cfg, log: log, news: news}
}

func (s *sources) build(d config.Device) (protocols.Source, error) {
	if d.Isolated() {
		return s.isolated(d)
	}
	p, err := protocolOf(d)
	if err != nil {
		return nil, err
	}
	return buildSource(s.cfg, d, s.log, s.news[p.Name])
}

func protocolOf(d config.Device) (*protocols.Protocol, error) {
	p, ok := protocols.Lookup(d.Protocol)
	if !ok {
		return nil, fmt.Errorf("device %s: unknown protocol %q", d.ID, d.Protocol)
	}
	if d.Settings == nil {
		return nil, fmt.Errorf("device %s: protocol %q has no settings", d.ID, d.Protocol)
	}
	return p, nil
}

// newSource builds a device's source with a constructor of its own, for a
// device built alone (an agent, the start-up probe of an isolated device).
func newSource(cfg *config.Config, d config.Device, log *slog.Logger) (protocols.Source, error) {
	p, err := protocolOf(d)
	if err != nil {
		return nil, err
	}
	return buildSource(cfg, d, log, p.Sources())
}

func buildSource(cfg *config.Config, d config.Device, log *slog.Logger, newSource protocols.NewSource) (protocols.Source, error) {
	opts := protocols.Options{DeviceID: d.ID, Timeout: d.Timeout.D(), Logger: log, StateDir: ProtocolStateDir(cfg, d.Protocol)}
	// Resolved on a copy: cfg keeps the paths as written, so an agent's
	// configuration resolves them against the same file.
	return newSource(protocols.Resolved(d.Settings, cfg.Resolve), opts)
}

// ProtocolStateDir is where a protocol keeps state across restarts
// (certificates, trust lists), shared with the CLI's browse and scan.
func ProtocolStateDir(cfg *config.Config, protocol protocols.Name) string {
	return filepath.Join(cfg.Resolve(cfg.Appliance.DataDir), "protocols", string(protocol))
}
