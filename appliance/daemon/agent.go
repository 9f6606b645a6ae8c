package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"

	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/logging"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/isolate"
)

// AgentCommand is the hidden CLI command that runs one isolated device.
const AgentCommand = "agent"

// agentHello tells an agent what to build: a configuration of its own
// holding just the device, validated by the agent as the appliance
// validates its file. ConfigPath is the appliance's configuration file, so
// relative paths in the device's section resolve as they do there.
type agentHello struct {
	ConfigPath string `json:"configPath"`
	Config     []byte `json:"config"`
	Device     string `json:"device"`
}

// agentConfig is the configuration an agent loads.
type agentConfig struct {
	Appliance struct {
		ID      string `yaml:"id"`
		DataDir string `yaml:"data_dir"`
	} `yaml:"appliance"`
	Log     config.Log      `yaml:"log"`
	Devices []config.Device `yaml:"devices"`
}

func agentHelloFor(cfg *config.Config, d config.Device) ([]byte, error) {
	var ac agentConfig
	ac.Appliance.ID = cfg.Appliance.ID
	ac.Appliance.DataDir = cfg.Resolve(cfg.Appliance.DataDir)
	ac.Log = cfg.Log
	ac.Log.Format = config.LogJSON // the appliance relays the agent's lines
	ac.Devices = []config.Device{d}
	y, err := yaml.Marshal(&ac)
	if err != nil {
		return nil, fmt.Errorf("device %s: agent configuration: %w", d.ID, err)
	}
	return json.Marshal(agentHello{ConfigPath: cfg.Path, Config: y, Device: d.ID})
}

// isolated builds the source of a device that runs in an agent: this
// executable, started with the agent command.
func (s *sources) isolated(d config.Device) (protocols.Source, error) {
	// Built once here and closed, as the agent will build it: the
	// protocols' New loads credentials and certificates and checks key
	// file permissions without contacting the device, so a mistake is
	// refused at start-up, naming the file, and not in an agent's loop.
	probe, err := newSource(s.cfg, d, s.log)
	if err != nil {
		return nil, err
	}
	_ = probe.Close()
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("device %s: isolate: %w", d.ID, err)
	}
	hello, err := agentHelloFor(s.cfg, d)
	if err != nil {
		return nil, err
	}
	return isolate.New(isolate.Config{
		DeviceID: d.ID,
		Command:  func() *exec.Cmd { return exec.Command(exe, AgentCommand) },
		Hello:    hello,
		Logger:   s.log,
	}), nil
}

// ServeAgent is the agent process: it reads what to build from in, builds
// the device's source as the appliance would in-process, and serves its
// polls on out until the appliance closes it or goes away. Logs go to
// errOut as JSON lines, which the appliance relays.
func ServeAgent(ctx context.Context, in io.Reader, out, errOut io.Writer) error {
	return isolate.Serve(ctx, in, out, func(raw []byte) (protocols.Source, error) {
		var h agentHello
		if err := json.Unmarshal(raw, &h); err != nil {
			return nil, fmt.Errorf("hello: %w", err)
		}
		cfg, err := config.Parse(h.ConfigPath, h.Config)
		if err != nil {
			return nil, fmt.Errorf("configuration of device %s: %w", h.Device, err)
		}
		if len(cfg.Devices) != 1 || cfg.Devices[0].ID != h.Device {
			return nil, fmt.Errorf("the agent's configuration does not hold device %s alone", h.Device)
		}
		log, err := logging.New(errOut, string(config.LogJSON), string(cfg.Log.Level), cfg.Log.Components)
		if err != nil {
			return nil, err
		}
		log = log.With("pid", os.Getpid())
		slog.SetDefault(log) // libraries that log through slog's default
		return newSource(cfg, cfg.Devices[0], log)
	})
}
