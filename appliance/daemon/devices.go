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
func newSource(cfg *config.Config, d config.Device, log *slog.Logger) (protocols.Source, error) {
	opts := protocols.Options{DeviceID: d.ID, Timeout: d.Timeout.D(), Logger: log,
		StateDir: filepath.Join(cfg.Resolve(cfg.Appliance.DataDir), "protocols", d.Protocol)}
	switch {
	case d.Protocol == "opcua" && d.OPCUA != nil:
		return opcua.New(*d.OPCUA, opts)
	case d.Protocol == "modbus" && d.Modbus != nil:
		return modbus.New(*d.Modbus, opts)
	case d.Protocol == "coap" && d.CoAP != nil:
		return coap.New(*d.CoAP, opts)
	}
	return nil, fmt.Errorf("device %s: protocol %q has no settings", d.ID, d.Protocol)
}
