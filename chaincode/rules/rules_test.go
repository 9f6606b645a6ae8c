package rules

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/chaincode/format"
)

// memState is an in-memory State with Fabric-like composite-key scans.
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

type world struct {
	st   *memState
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newWorld(t *testing.T) *world {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	w := &world{st: newMemState(), pub: pub, priv: priv}
	if err := RegisterAppliance(w.st, policy, admin, Appliance{ID: appID, PublicKey: pub, AnchorMSP: anchor.MSPID, AnchorID: anchor.ID, OwnerMSP: "OwnerMSP"}); err != nil {
		t.Fatal(err)
	}
	return w
}

type hdrOpts struct {
	app      string
	height   uint64
	prev     []byte
	first    uint64
	n        uint64
	from, to int64
	devices  []string
	rootByte byte
}

func header(t *testing.T, o hdrOpts) []byte {
	t.Helper()
	if o.app == "" {
		o.app = appID
	}
	if o.first == 0 {
		o.first = 1 + o.height*10
	}
	if o.n == 0 {
		o.n = 10
	}
	if o.devices == nil {
		o.devices = []string{"press"}
	}
	if o.to == 0 {
		o.from, o.to = int64(o.height)*1000, int64(o.height)*1000+999
	}
	root := make([]byte, 32)
	root[0], root[1] = byte(o.height), o.rootByte
	h := &format.Header{
		Version: format.HeaderVersion, ApplianceID: o.app, Height: o.height, PrevHash: o.prev,
		FirstSeq: o.first, LastSeq: o.first + o.n - 1, FirstTime: o.from, LastTime: o.to,
		Devices: o.devices, Count: o.n, MerkleRoot: root, SealedAt: 5,
	}
	b, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func objHash(i int) string { return fmt.Sprintf("%064x", i) }

func (w *world) sub(hb []byte, i int) format.Submission {
	return format.Submission{Header: hb, HeaderSig: format.SignHeader(w.priv, hb), ObjectHash: objHash(i), Location: "fs:" + objHash(i)}
}

func prevOf(hb []byte) []byte {
	b, _ := hex.DecodeString(format.BlockID(hb))
	return b
}

// chain records n linked blocks of appliance app and returns their headers.
func (w *world) chain(t *testing.T, n int, opts func(height uint64) hdrOpts) [][]byte {
	t.Helper()
	var out [][]byte
	var prev []byte
	for i := 0; i < n; i++ {
		o := hdrOpts{}
		if opts != nil {
			o = opts(uint64(i))
		}
		o.height, o.prev = uint64(i), prev
		hb := header(t, o)
		if _, recorded, err := RecordCredential(w.st, anchor, w.sub(hb, i)); err != nil || !recorded {
			t.Fatalf("block %d: recorded=%v err=%v", i, recorded, err)
		}
		out = append(out, hb)
		prev = prevOf(hb)
	}
	return out
}

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
