package daemon

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/coap"
	"github.com/wotchain/wotchain/protocols/modbus"
	"github.com/wotchain/wotchain/protocols/opcua"
)

// newSource is the protocol registry: one line per protocol.
// sources builds the configured devices; devices on one Modbus port or
// serial line share its connection and its lock.
type sources struct {
	cfg *config.Config
	log *slog.Logger
	bus *modbus.Bus
}

func newSources(cfg *config.Config, log *slog.Logger) *sources {
	return &sources{cfg: cfg, log: log, bus: modbus.NewBus()}
}

func (s *sources) build(d config.Device) (protocols.Source, error) {
	if d.Isolated() {
		return s.isolated(d)
	}
	return newSource(s.cfg, d, s.log, modbus.WithBus(s.bus))
}

func newSource(cfg *config.Config, d config.Device, log *slog.Logger, modbusOpts ...modbus.Option) (protocols.Source, error) {
	opts := protocols.Options{DeviceID: d.ID, Timeout: d.Timeout.D(), Logger: log, StateDir: ProtocolStateDir(cfg, d.Protocol)}
	switch {
	case d.Protocol == "opcua" && d.OPCUA != nil:
		c := *d.OPCUA
		c.ResolvePaths(cfg.Resolve)
		return opcua.New(c, opts)
	case d.Protocol == "modbus" && d.Modbus != nil:
		return modbus.New(*d.Modbus, opts, modbusOpts...)
	case d.Protocol == "coap" && d.CoAP != nil:
		c := *d.CoAP
		c.ResolvePaths(filepath.Dir(cfg.Path))
		return coap.New(c, opts)
	}
	return nil, fmt.Errorf("device %s: protocol %q has no settings", d.ID, d.Protocol)
}

// ProtocolStateDir is where a protocol keeps state across restarts
// (certificates, trust lists), shared with the CLI's browse and scan.
func ProtocolStateDir(cfg *config.Config, protocol string) string {
	return filepath.Join(cfg.Resolve(cfg.Appliance.DataDir), "protocols", protocol)
}
