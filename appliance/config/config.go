// Package config loads the appliance's YAML configuration strictly: unknown
// keys, wrong types and missing or invalid values are refused with the
// file, line and key named. Every default is applied here, so the rest of
// the appliance reads a complete configuration.
package config

import (
	"fmt"
	"path/filepath"

	"github.com/dustin/go-humanize"
	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/bridge/aggregate"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/internal/yamltime"
	"github.com/wotchain/wotchain/protocols"
	// Every protocol registers itself; config finds them by name.
	_ "github.com/wotchain/wotchain/protocols/all"
)

// Config is the whole appliance configuration.
type Config struct {
	Appliance  Appliance         `yaml:"appliance"`
	Seal       Seal              `yaml:"seal"`
	Storage    Storage           `yaml:"storage"`
	Ledger     Ledger            `yaml:"ledger"`
	Recipients []Recipient       `yaml:"recipients"`
	Retention  Retention         `yaml:"retention"`
	Budget     Budget            `yaml:"budget"`
	Log        Log               `yaml:"log"`
	HTTP       HTTP              `yaml:"http"`
	MQTT       *publish.Config   `yaml:"mqtt"`      // live publishing; absent: off
	Aggregate  *aggregate.Config `yaml:"aggregate"` // window aggregates; absent: off
	Simulators *Simulators       `yaml:"simulators"`
	Devices    []Device          `yaml:"devices"`

	// Path is the file the configuration was loaded from.
	Path string `yaml:"-"`
}

// Appliance identifies the appliance and where it keeps its state. Relative
// paths are relative to the configuration file's directory.
type Appliance struct {
	ID         string `yaml:"id"`
	DataDir    string `yaml:"data_dir"`
	SigningKey string `yaml:"signing_key"` // default <data_dir>/keys/appliance.key
	OwnerKey   string `yaml:"owner_key"`   // default <data_dir>/keys/owner.hpke
	OwnerKEM   string `yaml:"owner_kem"`   // x25519 (default) | mlkem768-x25519
}

// Seal says when readings are sealed into a block.
type Seal struct {
	MaxReadings int      `yaml:"max_readings"` // default seal.DefaultMaxReadings
	Interval    Duration `yaml:"interval"`     // default 10s
}

// Storage selects where encrypted blocks go.
type Storage struct {
	Kind       StorageKind       `yaml:"kind"` // filesystem (default) | s3
	Filesystem FilesystemStorage `yaml:"filesystem"`
	S3         S3Storage         `yaml:"s3"`
}

// S3Storage is any S3-compatible object store. Credentials come from files
// or environment variables, never from the YAML itself.
type S3Storage struct {
	Endpoint      string `yaml:"endpoint"` // host:port
	Bucket        string `yaml:"bucket"`
	Prefix        string `yaml:"prefix"`
	Region        string `yaml:"region"`
	TLS           *bool  `yaml:"tls"` // default true
	CAFile        string `yaml:"ca_file"`
	AccessKeyEnv  string `yaml:"access_key_env"`
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKeyEnv  string `yaml:"secret_key_env"`
	SecretKeyFile string `yaml:"secret_key_file"`
	CreateBucket  bool   `yaml:"create_bucket"`
}

// StorageKind names a storage backend.
type StorageKind string

const (
	StorageFilesystem StorageKind = "filesystem"
	StorageS3         StorageKind = "s3"
)

// FilesystemStorage is the embedded default storage.
type FilesystemStorage struct {
	Dir string `yaml:"dir"` // default <data_dir>/objects
}

// Ledger selects where block credentials are anchored.
type Ledger struct {
	Kind   LedgerKind   `yaml:"kind"` // embedded (default) | fabric
	Fabric FabricLedger `yaml:"fabric"`
}

// LedgerKind names a ledger backend.
type LedgerKind string

const (
	LedgerEmbedded LedgerKind = "embedded"
	LedgerFabric   LedgerKind = "fabric"
)

// FabricLedger connects to a Hyperledger Fabric peer's gateway. Either
// network_dir (written by `fabricnet up`) with msp_id and user, or the
// explicit endpoint, TLS and identity keys.
type FabricLedger struct {
	NetworkDir   string   `yaml:"network_dir"`
	MSPID        string   `yaml:"msp_id"`
	User         string   `yaml:"user"` // with network_file: the organisation's user to act as
	PeerEndpoint string   `yaml:"peer_endpoint"`
	TLSCAFile    string   `yaml:"tls_ca_file"`
	ServerName   string   `yaml:"server_name"`
	CertFile     string   `yaml:"cert_file"`
	KeyFile      string   `yaml:"key_file"`
	MSPDir       string   `yaml:"msp_dir"`
	Channel      string   `yaml:"channel"`    // default wotchain
	Chaincode    string   `yaml:"chaincode"`  // default wotchain
	Timeout      Duration `yaml:"timeout"`    // waiting for a commit; default 60s
	Checkpoint   string   `yaml:"checkpoint"` // wotchain follow's checkpoint file; default <data_dir>/follow.checkpoint
}

// Retention says how long readings of anchored blocks stay in the local
// store. Nothing that is not yet uploaded and anchored is ever deleted.
type Retention struct {
	KeepFor   Duration `yaml:"keep_for"`   // e.g. 720h; 0 keeps everything
	KeepBytes Bytes    `yaml:"keep_bytes"` // e.g. 20GiB; 0 means no size limit
	Every     Duration `yaml:"every"`      // how often to apply it; default 1m
}

// Budget is the hard cap on the local store and what happens at it.
type Budget struct {
	MaxBytes Bytes  `yaml:"max_bytes"` // 0: no cap
	OnFull   OnFull `yaml:"on_full"`   // pause_devices (default) | drop_oldest_unanchored
}

// OnFull is what happens when the store reaches budget.max_bytes.
type OnFull string

const (
	// PauseDevices pauses devices, lowest priority first, until retention
	// makes room; nothing is dropped.
	PauseDevices OnFull = "pause_devices"
	// DropOldestUnanchored drops the oldest blocks not yet anchored.
	DropOldestUnanchored OnFull = "drop_oldest_unanchored"
)

// Bytes is a size written as "500MiB", "20GB" or a number of bytes.
type Bytes uint64

// UnmarshalYAML parses a size.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := humanize.ParseBytes(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a size (use e.g. 500MiB, 20GiB)", n.Line, s)
	}
	*b = Bytes(v)
	return nil
}

// Recipient is a partner that receives the keys of every block (all of it).
type Recipient struct {
	Name          string `yaml:"name"`
	PublicKeyFile string `yaml:"public_key_file"`
}

// Log configures log/slog output.
type Log struct {
	Level  LogLevel  `yaml:"level"`  // debug | info (default) | warn | error
	Format LogFormat `yaml:"format"` // text (default) | json
	// Components sets a level per component (outbox, license, retention,
	// budget, http, mqtt, aggregate, simulator), overriding Level.
	Components map[string]string `yaml:"components"`
}

// LogFormat is how log lines are written.
type LogFormat string

const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// LogLevel is the least level logged.
type LogLevel string

const (
	LevelDebug LogLevel = "debug"
	LevelInfo  LogLevel = "info"
	LevelWarn  LogLevel = "warn"
	LevelError LogLevel = "error"
)

// Simulators starts in-process simulated devices (demo and tests only):
// one key per protocol that has a simulator, its listen address, e.g.
// `modbus: 127.0.0.1:15020`.
type Simulators struct {
	Tick Duration `yaml:"tick"` // how often simulated values change; default 1s
	// Listen is each simulator's address by protocol, decoded from the
	// protocols' keys (see sections.go).
	Listen map[protocols.Name]string `yaml:"-"`
}

// Device is one polled device. Its protocol's section (the key named after
// the protocol, e.g. `modbus:`) is decoded into Settings, with the type the
// protocol registered.
type Device struct {
	ID       string         `yaml:"id"`
	Protocol protocols.Name `yaml:"protocol"` // a registered protocol: opcua | modbus | coap
	Interval Duration       `yaml:"interval"` // default 1s
	Priority int            `yaml:"priority"` // at the disk budget, the lowest priorities pause first; default 0
	// Timeout bounds one request; default the protocol's DefaultTimeout
	// (OPC UA 5s, CoAP 3s, Modbus 2s).
	Timeout Duration `yaml:"timeout"`
	// Isolate runs the device's protocol client in a process of its own
	// (an agent), so a fault in the protocol library ends that process
	// and not the appliance. The default is the protocol's: true for OPC
	// UA, false for CoAP; not for Modbus, whose devices share ports and
	// locks in the appliance.
	Isolate *bool `yaml:"isolate,omitempty"`
	// Settings is the protocol's section, e.g. *modbus.Config; nil when
	// the section is missing (refused by validation).
	Settings protocols.Settings `yaml:"-"`

	// others names sections of other protocols found on the device,
	// refused by validation.
	others []protocols.Name
}

// Isolated says whether the device runs in an agent process.
func (d *Device) Isolated() bool {
	if d.Isolate != nil {
		return *d.Isolate
	}
	p, ok := protocols.Lookup(d.Protocol)
	return ok && p.Isolate
}

// Duration is the YAML duration every configuration section uses.
type Duration = yamltime.Duration

// Resolve makes a path from the configuration absolute, relative to the
// configuration file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}
