package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/appliance/logging"
	"github.com/wotchain/wotchain/bridge/aggregate"
	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/protocols"
)

// Load reads and validates an appliance configuration file.
func Load(path string) (*Config, error) { return load(path, false) }

// LoadView reads a configuration for the partner tools (provenance,
// follow, fetch, verify of fetched blocks): only what reaches the ledger
// and the storage must be valid; devices and the appliance id may be absent.
func LoadView(path string) (*Config, error) { return load(path, true) }

func load(path string, view bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, data, view)
}

// Parse validates appliance configuration bytes; path is used in messages
// and to resolve relative paths.
func Parse(path string, data []byte) (*Config, error) { return parse(path, data, false) }

func parse(path string, data []byte, view bool) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, decodeError(path, data, err, nil)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, decodeError(path, data, err, &root)
	}
	if abs, err := filepath.Abs(path); err == nil {
		cfg.Path = abs
	} else {
		cfg.Path = path
	}
	cfg.applyDefaults()
	if cfg.MQTT != nil {
		cfg.MQTT.ResolvePaths(cfg.Resolve)
	}
	if errs := cfg.validate(view); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, fe := range errs {
			msgs[i] = fmt.Sprintf("%s:%d: %s: %v", path, lineOf(&root, fe.Field), fe.Field, fe.Err)
		}
		return nil, errors.New(strings.Join(msgs, "\n"))
	}
	return &cfg, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// decodeError turns yaml.v3's messages into "file:line: key: message"
// lines, the key path found in root (the document's nodes) when given.
func decodeError(path string, data []byte, err error, root *yaml.Node) error {
	es := entries(root)
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = located(path, data, es, m)
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	if err.Error() == "EOF" {
		return fmt.Errorf("%s: the file is empty", path)
	}
	return errors.New(located(path, data, es, err.Error()))
}

// located rewrites "line N: msg" as "path:N: key: msg", with the key path
// of the node at line N that msg is about (see withKeyPath).
func located(path string, data []byte, es []entry, msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return path + ":" + m[1] + ": " + oneLine(withKeyPath(es, line, msg[len(m[0]):]))
	}
	msg = oneLine(msg)
	return fmt.Sprintf("%s:%d: %s", path, unlocatedLine(data, msg), msg)
}

// oneLine keeps one error per line: a quoted value may span lines.
func oneLine(msg string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(msg)
}

// unlocatedLine finds the line of a yaml.v3 error that names none: a
// reader error is at the first byte that is not printable UTF-8, an unknown
// alias at its first use, and anything else on line 1 (yaml.v3 leaves the
// line out only when its 0-based mark is 0).
func unlocatedLine(data []byte, msg string) int {
	off := -1
	switch {
	case strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters") || strings.Contains(msg, "Unicode"):
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if (r == utf8.RuneError && n <= 1) || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
				off = i
				break
			}
			i += n
		}
	case strings.HasPrefix(msg, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		off = bytes.Index(data, []byte("*"+name))
	}
	if off < 0 {
		return 1
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

func (c *Config) applyDefaults() {
	c.defaultPaths()
	c.defaultBackends()
	c.defaultService()
	for i := range c.Devices {
		c.Devices[i].applyDefaults()
	}
}

// defaultPaths places the keys, the objects and the checkpoint under the
// data directory when none is given.
func (c *Config) defaultPaths() {
	a := &c.Appliance
	if a.DataDir == "" {
		return
	}
	if a.SigningKey == "" {
		a.SigningKey = filepath.Join(a.DataDir, "keys", "appliance.key")
	}
	if a.OwnerKey == "" {
		a.OwnerKey = filepath.Join(a.DataDir, "keys", "owner.hpke")
	}
	if c.Storage.Filesystem.Dir == "" {
		c.Storage.Filesystem.Dir = filepath.Join(a.DataDir, "objects")
	}
	if c.Ledger.Fabric.Checkpoint == "" {
		c.Ledger.Fabric.Checkpoint = filepath.Join(a.DataDir, "follow.checkpoint")
	}
}

// defaultBackends fills the sealing, storage and ledger settings.
func (c *Config) defaultBackends() {
	if c.Seal.MaxReadings == 0 {
		c.Seal.MaxReadings = seal.DefaultMaxReadings
	}
	if c.Seal.Interval == 0 {
		c.Seal.Interval = Duration(10e9)
	}
	if c.Storage.Kind == "" {
		c.Storage.Kind = StorageFilesystem
	}
	if c.Storage.S3.TLS == nil {
		tlsOn := true
		c.Storage.S3.TLS = &tlsOn
	}
	f := &c.Ledger.Fabric
	if c.Ledger.Kind == "" {
		c.Ledger.Kind = LedgerEmbedded
	}
	if f.Channel == "" {
		f.Channel = "wotchain"
	}
	if f.Chaincode == "" {
		f.Chaincode = "wotchain"
	}
	if f.Timeout == 0 {
		f.Timeout = Duration(60e9)
	}
}

// defaultService fills retention, budget, HTTP, logging and simulators.
func (c *Config) defaultService() {
	if c.Retention.Every == 0 {
		c.Retention.Every = Duration(60e9)
	}
	if c.Budget.OnFull == "" {
		c.Budget.OnFull = PauseDevices
	}
	c.HTTP.applyDefaults(c.Appliance.DataDir)
	if c.Log.Level == "" {
		c.Log.Level = LevelInfo
	}
	if c.Log.Format == "" {
		c.Log.Format = LogText
	}
	if c.Simulators != nil && c.Simulators.Tick == 0 {
		c.Simulators.Tick = Duration(1e9)
	}
}

func (d *Device) applyDefaults() {
	if d.Interval == 0 {
		d.Interval = Duration(1e9)
	}
	// The protocol's own default: OPC UA's 5s covers a secure
	// session's handshake, Modbus's 2s keeps a dead unit from holding a
	// shared port long. An unknown protocol keeps 0 and is refused.
	if p, ok := protocols.Lookup(d.Protocol); ok && d.Timeout == 0 {
		d.Timeout = Duration(p.DefaultTimeout)
	}
}

// idPattern keeps ids usable in ledger keys, file names and topics.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// fieldErrors collects validation problems in the order they are found,
// which is the order the messages are printed in.
type fieldErrors []*protocols.FieldError

func (e *fieldErrors) add(field, format string, args ...any) {
	*e = append(*e, protocols.FieldErrorf(field, format, args...))
}

// nested adds the problems a section's own Validate reports, under its path.
func (e *fieldErrors) nested(section string, err error) {
	for _, err := range flatten(err) {
		var fe *protocols.FieldError
		if errors.As(err, &fe) {
			*e = append(*e, &protocols.FieldError{Field: protocols.Nested(section, fe.Field), Err: fe.Err})
		} else {
			*e = append(*e, &protocols.FieldError{Field: section, Err: err})
		}
	}
}

// validate checks the sections in file order; view relaxes what the partner
// tools do not need (see LoadView).
func (c *Config) validate(view bool) []*protocols.FieldError {
	var errs fieldErrors
	c.validateAppliance(&errs, view)
	c.Seal.validate(&errs)
	c.Storage.validate(&errs)
	c.Ledger.validate(&errs)
	validateRecipients(&errs, c.Recipients)
	c.validateLimits(&errs)
	c.HTTP.validate(&errs)
	c.Log.validate(&errs)
	c.validateSections(&errs)
	if len(c.Devices) == 0 && !view {
		errs.add("devices", "at least one device is required")
	}
	seen := map[string]bool{}
	for i := range c.Devices {
		errs = append(errs, c.Devices[i].validate(fmt.Sprintf("devices[%d]", i), seen)...)
	}
	return errs
}

func (c *Config) validateAppliance(errs *fieldErrors, view bool) {
	if !idPattern.MatchString(c.Appliance.ID) && !(view && c.Appliance.ID == "") {
		errs.add("appliance.id", "required: letters, digits, '.', '_' or '-' (got %q)", c.Appliance.ID)
	}
	if c.Appliance.DataDir == "" && c.needsDataDir(view) {
		errs.add("appliance.data_dir", "required")
	}
	if _, err := keys.KEMByName(c.Appliance.OwnerKEM); err != nil {
		errs.add("appliance.owner_kem", "%v", err)
	}
}

// needsDataDir says whether anything will be written under data_dir: the
// appliance always writes there; a partner tool only for the embedded
// ledger or a filesystem store without its own directory.
func (c *Config) needsDataDir(view bool) bool {
	return !view || c.Ledger.Kind == LedgerEmbedded || (c.Storage.Kind == StorageFilesystem && c.Storage.Filesystem.Dir == "")
}

func (s Seal) validate(errs *fieldErrors) {
	if s.MaxReadings < 1 {
		errs.add("seal.max_readings", "must be at least 1")
	}
	if s.Interval.D() < 100e6 {
		errs.add("seal.interval", "must be at least 100ms")
	}
}

func (s Storage) validate(errs *fieldErrors) {
	switch s.Kind {
	case StorageFilesystem:
	case StorageS3:
		s3 := s.S3
		if s3.Endpoint == "" || strings.Contains(s3.Endpoint, "://") {
			errs.add("storage.s3.endpoint", "required, as host:port without a scheme (got %q)", s3.Endpoint)
		}
		if s3.Bucket == "" {
			errs.add("storage.s3.bucket", "required")
		}
		if (s3.AccessKeyEnv == "") == (s3.AccessKeyFile == "") {
			errs.add("storage.s3", "give exactly one of access_key_env and access_key_file")
		}
		if (s3.SecretKeyEnv == "") == (s3.SecretKeyFile == "") {
			errs.add("storage.s3", "give exactly one of secret_key_env and secret_key_file")
		}
	default:
		errs.add("storage.kind", "unknown kind %q (filesystem or s3)", s.Kind)
	}
}

func (l Ledger) validate(errs *fieldErrors) {
	switch l.Kind {
	case LedgerEmbedded:
	case LedgerFabric:
		l.Fabric.validate(errs)
	default:
		errs.add("ledger.kind", "unknown kind %q (embedded or fabric)", l.Kind)
	}
}

// validate checks a Fabric ledger: a network directory names the peer and
// the identities, so only the user is needed; otherwise each is given.
func (f FabricLedger) validate(errs *fieldErrors) {
	if f.MSPID == "" {
		errs.add("ledger.fabric.msp_id", "required")
	}
	if f.NetworkDir != "" {
		if f.User == "" {
			errs.add("ledger.fabric.user", "required with network_dir")
		}
		return
	}
	if f.PeerEndpoint == "" {
		errs.add("ledger.fabric.peer_endpoint", "required without network_dir")
	}
	if f.TLSCAFile == "" {
		errs.add("ledger.fabric.tls_ca_file", "required without network_dir")
	}
	if f.MSPDir == "" && (f.CertFile == "" || f.KeyFile == "") {
		errs.add("ledger.fabric", "give msp_dir, or cert_file and key_file")
	}
}

func validateRecipients(errs *fieldErrors, recipients []Recipient) {
	for i, r := range recipients {
		f := fmt.Sprintf("recipients[%d]", i)
		if r.Name == "" {
			errs.add(f+".name", "required")
		}
		if r.PublicKeyFile == "" {
			errs.add(f+".public_key_file", "required")
		}
	}
}

// validateLimits checks retention and the disk budget together: the
// retention size must leave room under the cap.
func (c *Config) validateLimits(errs *fieldErrors) {
	if c.Retention.Every.D() < 1e9 {
		errs.add("retention.every", "must be at least 1s")
	}
	if c.Budget.OnFull != PauseDevices && c.Budget.OnFull != DropOldestUnanchored {
		errs.add("budget.on_full", "unknown policy %q (pause_devices or drop_oldest_unanchored)", c.Budget.OnFull)
	}
	if c.Budget.MaxBytes > 0 && c.Retention.KeepBytes >= c.Budget.MaxBytes {
		errs.add("retention.keep_bytes", "must be below budget.max_bytes, or the cap is reached before retention prunes")
	}
}

func (l Log) validate(errs *fieldErrors) {
	switch l.Level {
	case LevelDebug, LevelInfo, LevelWarn, LevelError:
	default:
		errs.add("log.level", "unknown level %q (debug, info, warn, error)", l.Level)
	}
	for name, lv := range l.Components {
		if !logging.ValidLevel(lv) {
			errs.add("log.components."+name, "unknown level %q (debug, info, warn, error)", lv)
		}
	}
	if l.Format != LogText && l.Format != LogJSON {
		errs.add("log.format", "unknown format %q (text, json)", l.Format)
	}
}

// validateSections runs the optional sections' own checks.
func (c *Config) validateSections(errs *fieldErrors) {
	for name, sec := range map[string]interface{ Validate() error }{"mqtt": c.MQTT, "aggregate": c.Aggregate} {
		if reflect.ValueOf(sec).IsNil() {
			continue
		}
		errs.nested(name, sec.Validate())
	}
}

func (d *Device) validate(f string, seen map[string]bool) []*protocols.FieldError {
	var errs fieldErrors
	d.validateCommon(&errs, f, seen)
	p, known := protocols.Lookup(d.Protocol)
	// An unknown protocol has no default timeout: only its name is refused.
	if d.Timeout.D() < 0 || (d.Timeout == 0 && known) {
		errs.add(f+".timeout", "must be positive")
	}
	if !known {
		names := make([]string, 0, len(protocols.All()))
		for _, p := range protocols.All() {
			names = append(names, string(p.Name))
		}
		errs.add(f+".protocol", "unknown protocol %q (%s)", d.Protocol, strings.Join(names, ", "))
		return errs
	}
	if d.Isolate != nil && *d.Isolate && p.NotIsolable != "" {
		errs.add(f+".isolate", "not for %s: %s", p.Title, p.NotIsolable)
	}
	for _, name := range d.others {
		errs.add(f+"."+string(name), "section for %s on a %s device", name, d.Protocol)
	}
	sec := f + "." + string(d.Protocol)
	if d.Settings == nil {
		errs.add(sec, "required for protocol %s", d.Protocol)
		return errs
	}
	errs.nested(sec, d.Settings.Validate())
	if np, ok := d.Settings.(protocols.NamedPoints); ok {
		for _, pn := range np.PointNames() {
			if devstatus.Reserved(pn.Name) {
				errs.add(protocols.Nested(sec, pn.Field), "point names starting with '$' are reserved for the appliance's status records (got %q)", pn.Name)
			}
		}
	}
	return errs
}

// validateCommon checks the id (well formed, not an aggregate's, not seen
// before) and the polling interval.
func (d *Device) validateCommon(errs *fieldErrors, f string, seen map[string]bool) {
	if !idPattern.MatchString(d.ID) {
		errs.add(f+".id", "required: letters, digits, '.', '_' or '-' (got %q)", d.ID)
	} else if aggregate.IsAggregateDevice(d.ID) {
		errs.add(f+".id", "ids starting with %q name aggregates", aggregate.DevicePrefix)
	} else if seen[d.ID] {
		errs.add(f+".id", "device %q is defined twice", d.ID)
	}
	seen[d.ID] = true
	if d.Interval.D() < 10e6 {
		errs.add(f+".interval", "must be at least 10ms")
	}
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

var pathPart = regexp.MustCompile(`^([^\[]*)((?:\[\d+\])*)$`)

// lineOf finds the line of the key a field path names, or of the nearest
// enclosing key that exists (for a missing required key).
func lineOf(root *yaml.Node, field string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, part := range strings.Split(field, ".") {
		m := pathPart.FindStringSubmatch(part)
		if m == nil {
			return line
		}
		if m[1] != "" {
			next, keyLine := mapValue(n, m[1])
			if next == nil {
				return line
			}
			n, line = next, keyLine
		}
		for _, idx := range regexp.MustCompile(`\d+`).FindAllString(m[2], -1) {
			i, _ := strconv.Atoi(idx)
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return line
			}
			n, line = n.Content[i], n.Content[i].Line
		}
	}
	return line
}

func mapValue(n *yaml.Node, key string) (*yaml.Node, int) {
	if n.Kind != yaml.MappingNode {
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], n.Content[i].Line
		}
	}
	return nil, 0
}
