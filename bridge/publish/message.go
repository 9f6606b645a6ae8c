package publish

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/reading"
)

// Message is the JSON payload of one published reading. Subscribers may
// decode it with this type.
type Message struct {
	Seq        uint64 `json:"seq"`
	Appliance  string `json:"appliance"`
	Device     string `json:"device"`
	Point      string `json:"point"`
	Value      any    `json:"value"` // number, bool, string or null
	Type       string `json:"type"`  // float, int, bool, string or none: JSON alone cannot tell 1.0 from 1
	Unit       string `json:"unit,omitempty"`
	Quality    string `json:"quality"` // good, uncertain, bad
	Reason     string `json:"reason,omitempty"`
	Time       string `json:"time"`                  // appliance time, RFC 3339 with nanoseconds, UTC
	SourceTime string `json:"source_time,omitempty"` // the device's own timestamp, when it gives one
	// LeafHash is the reading's Merkle leaf, hex: SHA-256(0x00 || salt ||
	// canonical) for a reading of a v2 poll, SHA-256(0x00 || canonical) for
	// a v1 one.
	LeafHash string `json:"leaf_hash"`
	// Salt is a v2 reading's salt (hex, 16 bytes), which its leaf commits
	// to; empty for a v1 reading. Without it the leaf cannot be recomputed,
	// so the subscriber needs it to prove the reading.
	Salt      string `json:"salt,omitempty"`
	Canonical []byte `json:"canonical"` // the canonical CBOR bytes (base64 in JSON)
	// Status is true for a status record (point "$status", bridge/devstatus):
	// Value names the state of the device's stream ("poll-failing",
	// "stopped", ...) and Reason the detail; it is no measurement.
	Status bool `json:"status,omitempty"`
}

// NewMessage builds the payload of a reading of a v1 poll from its
// canonical bytes.
func NewMessage(canonical []byte) (*Message, error) {
	return newMessage(canonical, nil)
}

// NewSaltedMessage builds the payload of a reading of a v2 poll from its
// canonical bytes and its salt.
func NewSaltedMessage(canonical []byte, salt [reading.SaltSize]byte) (*Message, error) {
	return newMessage(canonical, &salt)
}

// leafHash is the leaf of canonical under salt (nil: a v1 leaf).
func leafHash(canonical []byte, salt *[reading.SaltSize]byte) []byte {
	if salt == nil {
		return reading.LeafHash(canonical)
	}
	return reading.SaltedLeafHash(*salt, canonical)
}

func newMessage(canonical []byte, salt *[reading.SaltSize]byte) (*Message, error) {
	r, err := reading.Decode(canonical)
	if err != nil {
		return nil, err
	}
	m := &Message{
		Seq: r.Seq, Appliance: r.ApplianceID, Device: r.DeviceID, Point: r.Point,
		Value: r.Value(), Unit: r.Unit, Quality: r.Quality.String(), Reason: r.Reason,
		Time:      time.Unix(0, r.ApplianceTime).UTC().Format(time.RFC3339Nano),
		LeafHash:  hex.EncodeToString(leafHash(canonical, salt)),
		Canonical: canonical,
	}
	if salt != nil {
		m.Salt = hex.EncodeToString(salt[:])
	}
	m.Status = devstatus.IsStatus(r.Point)
	switch {
	case r.Float != nil:
		m.Type = "float"
	case r.Int != nil:
		m.Type = "int"
	case r.Bool != nil:
		m.Type = "bool"
	case r.Str != nil:
		m.Type = "string"
	default:
		m.Type = "none"
	}
	if r.SourceTime != 0 {
		m.SourceTime = time.Unix(0, r.SourceTime).UTC().Format(time.RFC3339Nano)
	}
	return m, nil
}

// Verify checks that the payload is self-consistent: the leaf hash is the
// hash of the salt (if any) and the canonical bytes, and the JSON fields
// say what those bytes say. It is what a subscriber runs before trusting
// the JSON fields; the proof that the canonical bytes are the anchored
// reading is `wotchain verify --seq <seq>` (or an inclusion proof of
// LeafHash against the block's anchored Merkle root).
func (m *Message) Verify() error {
	var salt *[reading.SaltSize]byte
	if m.Salt != "" {
		b, err := hex.DecodeString(m.Salt)
		if err != nil || len(b) != reading.SaltSize {
			return fmt.Errorf("reading %d: salt %q is not %d bytes of hex", m.Seq, m.Salt, reading.SaltSize)
		}
		salt = (*[reading.SaltSize]byte)(b)
	}
	if got := hex.EncodeToString(leafHash(m.Canonical, salt)); got != m.LeafHash {
		return fmt.Errorf("reading %d: leaf_hash %s is not the hash of the salt and canonical bytes (%s)", m.Seq, m.LeafHash, got)
	}
	want, err := newMessage(m.Canonical, salt)
	if err != nil {
		return fmt.Errorf("reading %d: %w", m.Seq, err)
	}
	// Compare through JSON so that a decoded Value (float64 for any JSON
	// number) compares equal to the typed one.
	a, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b, err := json.Marshal(want)
	if err != nil {
		return err
	}
	if string(a) != string(b) {
		return fmt.Errorf("reading %d: the JSON fields differ from the canonical bytes:\n got %s\nwant %s", m.Seq, a, b)
	}
	return nil
}

// topicEscaper keeps device and point names from introducing MQTT
// wildcards (not allowed in a published topic) into a topic.
var topicEscaper = strings.NewReplacer("+", "_", "#", "_")

// Topic fills a topic template. A point name containing '/' spans several
// topic levels; '+' and '#' in names become '_'. A topic that would start
// with '$' (a template starting with {point}, a status record) starts with
// '_' instead: topics starting with '$' are the broker's.
func Topic(tmpl, appliance, device, point string) string {
	t := strings.NewReplacer(
		"{appliance}", topicEscaper.Replace(appliance),
		"{device}", topicEscaper.Replace(device),
		"{point}", topicEscaper.Replace(point),
	).Replace(tmpl)
	if rest, ok := strings.CutPrefix(t, "$"); ok {
		return "_" + rest
	}
	return t
}
