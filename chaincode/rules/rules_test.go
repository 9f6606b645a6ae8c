package rules

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// memState is an in-memory State with Fabric-like composite-key scans whose
// writes apply at once, with no transaction (rulestest has the ledgers).
type memState struct {
	kv       map[string][]byte
	events   []string
	payloads [][]byte
}

func newMemState() *memState { return &memState{kv: map[string][]byte{}} }

func (m *memState) GetState(key string) ([]byte, error) {
	v, ok := m.kv[key]
	if !ok {
		return nil, nil
	}
	return slices.Clone(v), nil
}

func (m *memState) PutState(key string, value []byte) error {
	m.kv[key] = slices.Clone(value)
	return nil
}

func (m *memState) SetEvent(name string, payload []byte) error {
	m.events = append(m.events, name)
	m.payloads = append(m.payloads, slices.Clone(payload))
	return nil
}

func (m *memState) ScanComposite(objectType string, attrs []string, limit int, bookmark string) ([]KV, string, error) {
	prefix, err := CompositeKey(objectType, attrs...)
	if err != nil {
		return nil, "", err
	}
	keys := slices.Sorted(maps.Keys(m.kv))
	var out []KV
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) || (bookmark != "" && k < bookmark) {
			continue
		}
		if len(out) == limit {
			return out, k, nil
		}
		out = append(out, KV{Key: k, Value: slices.Clone(m.kv[k])})
	}
	return out, "", nil
}

func (m *memState) snapshot() map[string]string {
	s := map[string]string{}
	for k, v := range m.kv {
		s[k] = string(v)
	}
	return s
}

const (
	makerMSP = "MakerMSP"
	appID    = "app-1"
)

var (
	policy = Policy{ManufacturerMSP: makerMSP}
	admin  = Caller{MSPID: makerMSP, ID: "maker-admin", Admin: true}
	anchor = Caller{MSPID: "OwnerMSP", ID: "app-1-anchor"}
)

func objHash(i int) string { return fmt.Sprintf("%064x", i) }

func TestCompositeKey(t *testing.T) {
	k, err := CompositeKey("height", "app", "7")
	if err != nil || k != "\x00height\x00app\x007\x00" {
		t.Fatalf("CompositeKey = %q, %v", k, err)
	}
	for _, bad := range []string{"a\x00b", "\U0010FFFF", string([]byte{0xff})} {
		if _, err := CompositeKey("x", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CompositeKey with %q: %v", bad, err)
		}
	}
}
