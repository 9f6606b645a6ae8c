package publish

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/protocols"
)

func canonicalReading(t *testing.T) []byte {
	t.Helper()
	r := &reading.Reading{Seq: 7, ApplianceID: appID, DeviceID: "dev-0", Point: "running", ApplianceTime: 1_700_000_000_000_000_000, Quality: protocols.Good}
	if err := r.SetValue(true); err != nil {
		t.Fatal(err)
	}
	raw, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A v1 message carries the reading's hash as its leaf and no salt; a v2
// message its salted leaf and the salt. Verify accepts each as built and
// refuses any mismatch between leaf, salt and bytes.
func TestMessageLeaves(t *testing.T) {
	raw := canonicalReading(t)
	salt := [reading.SaltSize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	v1, err := NewMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := NewSaltedMessage(raw, salt)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Salt != "" || v1.LeafHash != hex.EncodeToString(reading.LeafHash(raw)) {
		t.Fatalf("v1 message: salt %q, leaf %s", v1.Salt, v1.LeafHash)
	}
	if v2.Salt != hex.EncodeToString(salt[:]) || v2.LeafHash != hex.EncodeToString(reading.SaltedLeafHash(salt, raw)) {
		t.Fatalf("v2 message: salt %q, leaf %s", v2.Salt, v2.LeafHash)
	}
	for _, m := range []*Message{v1, v2} {
		if err := m.Verify(); err != nil {
			t.Fatal(err)
		}
	}
	bad := map[string]func() *Message{
		"salt dropped":        func() *Message { m := *v2; m.Salt = ""; return &m },
		"salt of another":     func() *Message { m := *v2; m.Salt = strings.Repeat("00", reading.SaltSize); return &m },
		"salt added":          func() *Message { m := *v1; m.Salt = v2.Salt; return &m },
		"short salt":          func() *Message { m := *v2; m.Salt = m.Salt[2:]; return &m },
		"unsalted leaf in v2": func() *Message { m := *v2; m.LeafHash = v1.LeafHash; return &m },
		"value changed":       func() *Message { m := *v2; m.Value = false; return &m },
	}
	for name, mk := range bad {
		if err := mk().Verify(); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// A status record is published labelled as one, and its message verifies;
// a topic never starts with '$'.
func TestStatusMessage(t *testing.T) {
	r := &reading.Reading{Seq: 8, ApplianceID: appID, DeviceID: "dev-0", Point: devstatus.Point, ApplianceTime: 1_700_000_000_000_000_000,
		Quality: protocols.Good, Reason: "dial tcp: connection refused"}
	if err := r.SetValue(string(devstatus.PollFailing)); err != nil {
		t.Fatal(err)
	}
	raw, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Status || m.Value != "poll-failing" || m.Reason != "dial tcp: connection refused" {
		t.Fatalf("status message: %+v", m)
	}
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
	if v, _ := NewMessage(canonicalReading(t)); v.Status {
		t.Fatal("a reading of a value is labelled a status record")
	}
	if got := Topic(DefaultTopic, appID, "dev-0", devstatus.Point); got != "wotchain/"+appID+"/dev-0/$status" {
		t.Errorf("topic %s", got)
	}
	if got := Topic("{point}/{device}", appID, "dev-0", devstatus.Point); got != "_status/dev-0" {
		t.Errorf("topic %s", got)
	}
}
