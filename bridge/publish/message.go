package publish

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
	LeafHash   string `json:"leaf_hash"`             // hex SHA-256(0x00 || canonical): the reading's Merkle leaf
	Canonical  []byte `json:"canonical"`             // the canonical CBOR bytes (base64 in JSON)
}

// NewMessage builds the payload of a reading from its canonical bytes.
func NewMessage(canonical []byte) (*Message, error) {
	r, err := reading.Decode(canonical)
	if err != nil {
		return nil, err
	}
	m := &Message{
		Seq: r.Seq, Appliance: r.ApplianceID, Device: r.DeviceID, Point: r.Point,
		Value: r.Value(), Unit: r.Unit, Quality: r.Quality.String(), Reason: r.Reason,
		Time:      time.Unix(0, r.ApplianceTime).UTC().Format(time.RFC3339Nano),
		LeafHash:  hex.EncodeToString(reading.LeafHash(canonical)),
		Canonical: canonical,
	}
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
// hash of the canonical bytes, and the JSON fields say what those bytes say.
// It is what a subscriber runs before trusting the JSON fields; the proof
// that the canonical bytes are the anchored reading is `wotchain verify
// --seq <seq>` (or an inclusion proof of LeafHash against the block's
// anchored Merkle root).
func (m *Message) Verify() error {
	if got := hex.EncodeToString(reading.LeafHash(m.Canonical)); got != m.LeafHash {
		return fmt.Errorf("reading %d: leaf_hash %s is not the hash of the canonical bytes (%s)", m.Seq, m.LeafHash, got)
	}
	want, err := NewMessage(m.Canonical)
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
// topic levels; '+' and '#' in names become '_'.
func Topic(tmpl, appliance, device, point string) string {
	return strings.NewReplacer(
		"{appliance}", topicEscaper.Replace(appliance),
		"{device}", topicEscaper.Replace(device),
		"{point}", topicEscaper.Replace(point),
	).Replace(tmpl)
}
