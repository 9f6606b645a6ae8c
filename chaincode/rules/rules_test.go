package rules

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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

func TestRegisterAppliance(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	good := Appliance{ID: "app-9", PublicKey: pub, AnchorMSP: "OwnerMSP", AnchorID: "anchor"}
	cases := []struct {
		name   string
		caller Caller
		app    Appliance
		want   error
	}{
		{"non-admin of manufacturer", Caller{MSPID: makerMSP, ID: "clerk"}, good, ErrForbidden},
		{"admin of another MSP", Caller{MSPID: "OwnerMSP", ID: "admin", Admin: true}, good, ErrForbidden},
		{"non-admin of another MSP", anchor, good, ErrForbidden},
		{"empty id", admin, func() Appliance { a := good; a.ID = ""; return a }(), ErrInvalid},
		{"short key", admin, func() Appliance { a := good; a.PublicKey = pub[:31]; return a }(), ErrInvalid},
		{"no anchor MSP", admin, func() Appliance { a := good; a.AnchorMSP = ""; return a }(), ErrInvalid},
		{"no anchor id", admin, func() Appliance { a := good; a.AnchorID = ""; return a }(), ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newMemState()
			if err := RegisterAppliance(st, policy, c.caller, c.app); !errors.Is(err, c.want) {
				t.Fatalf("RegisterAppliance: %v, want %v", err, c.want)
			}
			if len(st.kv) != 0 {
				t.Fatalf("refused registration wrote %d keys", len(st.kv))
			}
			if _, err := GetAppliance(st, c.app.ID); err == nil {
				t.Fatal("refused appliance is registered")
			}
		})
	}

	st := newMemState()
	if err := RegisterAppliance(st, policy, admin, good); err != nil {
		t.Fatal(err)
	}
	a, err := GetAppliance(st, "app-9")
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.PublicKey(a.PublicKey).Equal(pub) || a.AnchorMSP != "OwnerMSP" || a.AnchorID != "anchor" || a.OwnerMSP != makerMSP {
		t.Fatalf("registered %+v", a)
	}
	if _, err := GetAppliance(st, "app-8"); !errors.Is(err, ErrUnknownAppliance) {
		t.Fatalf("GetAppliance of an unregistered id: %v", err)
	}
	// Re-registration (new anchoring identity) replaces the record.
	good.AnchorID = "anchor-2"
	if err := RegisterAppliance(st, policy, admin, good); err != nil {
		t.Fatal(err)
	}
	if a, _ := GetAppliance(st, "app-9"); a.AnchorID != "anchor-2" {
		t.Fatalf("re-registration not applied: %+v", a)
	}
}

func TestRecordCredentialAccepted(t *testing.T) {
	w := newWorld(t)
	hb := header(t, hdrOpts{height: 0, devices: []string{"oven", "press"}})
	sub := w.sub(hb, 1)
	cred, recorded, err := RecordCredential(w.st, anchor, sub)
	if err != nil || !recorded {
		t.Fatalf("RecordCredential: recorded=%v err=%v", recorded, err)
	}
	h, _ := format.ParseHeader(hb)
	if cred.BlockID != format.BlockID(hb) || cred.ApplianceID != appID || cred.Height != 0 || cred.PrevBlockID != "" ||
		cred.FirstSeq != h.FirstSeq || cred.LastSeq != h.LastSeq || cred.Count != 10 ||
		cred.MerkleRoot != hex.EncodeToString(h.MerkleRoot) || cred.ObjectHash != sub.ObjectHash || cred.Location != sub.Location ||
		cred.SignerMSP != anchor.MSPID || cred.SignerID != anchor.ID || fmt.Sprint(cred.Devices) != "[oven press]" {
		t.Fatalf("credential %+v", cred)
	}
	if !slices.Equal(w.st.events, []string{EventBlockAnchored}) {
		t.Fatalf("events %v", w.st.events)
	}
	got, err := GetCredential(w.st, cred.BlockID)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(cred)
	if string(a) != string(b) {
		t.Fatalf("GetCredential = %s, recorded %s", a, b)
	}
	if at, err := CredentialAt(w.st, appID, 0); err != nil || at.BlockID != cred.BlockID {
		t.Fatalf("CredentialAt(0) = %v, %v", at, err)
	}
	if _, err := CredentialAt(w.st, appID, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CredentialAt(1): %v", err)
	}
	if _, err := GetCredential(w.st, objHash(99)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetCredential of an unknown block: %v", err)
	}

	// The next block links to it.
	hb1 := header(t, hdrOpts{height: 1, prev: prevOf(hb)})
	c1, recorded, err := RecordCredential(w.st, anchor, w.sub(hb1, 2))
	if err != nil || !recorded || c1.PrevBlockID != cred.BlockID {
		t.Fatalf("block 1: %+v recorded=%v err=%v", c1, recorded, err)
	}
}

func TestRecordCredentialRefused(t *testing.T) {
	w := newWorld(t)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	hdrs := w.chain(t, 2, nil) // heights 0 and 1 recorded

	h2 := header(t, hdrOpts{height: 2, prev: prevOf(hdrs[1])})
	unknown := header(t, hdrOpts{app: "app-2", height: 0})
	cases := []struct {
		name   string
		caller Caller
		sub    format.Submission
		want   error
	}{
		{"other identity in the anchor MSP", Caller{MSPID: anchor.MSPID, ID: "someone"}, w.sub(h2, 2), ErrForbidden},
		{"anchor id in another MSP", Caller{MSPID: "EvilMSP", ID: anchor.ID}, w.sub(h2, 2), ErrForbidden},
		{"manufacturer admin", admin, w.sub(h2, 2), ErrForbidden},
		{"header signed by another key", anchor, format.Submission{Header: h2, HeaderSig: format.SignHeader(otherPriv, h2), ObjectHash: objHash(2), Location: "fs:x"}, ErrBadSignature},
		{"signature of another header", anchor, format.Submission{Header: h2, HeaderSig: format.SignHeader(w.priv, hdrs[1]), ObjectHash: objHash(2), Location: "fs:x"}, ErrBadSignature},
		{"signature without domain", anchor, format.Submission{Header: h2, HeaderSig: ed25519.Sign(w.priv, h2), ObjectHash: objHash(2), Location: "fs:x"}, ErrBadSignature},
		{"unknown appliance", Caller{MSPID: anchor.MSPID, ID: anchor.ID}, w.sub(unknown, 3), ErrUnknownAppliance},
		{"same header, other object hash", anchor, w.sub(hdrs[1], 77), ErrConflict},
		{"same header, other location", anchor, func() format.Submission { s := w.sub(hdrs[1], 1); s.Location = "s3:elsewhere"; return s }(), ErrConflict},
		{"other block at occupied height 1", anchor, w.sub(header(t, hdrOpts{height: 1, prev: prevOf(hdrs[0]), rootByte: 9}), 5), ErrConflict},
		{"other block at occupied height 0", anchor, w.sub(header(t, hdrOpts{height: 0, rootByte: 9}), 5), ErrConflict},
		{"prev hash does not match", anchor, w.sub(header(t, hdrOpts{height: 2, prev: prevOf(hdrs[0])}), 6), ErrBrokenChain},
		{"predecessor missing", anchor, w.sub(header(t, hdrOpts{height: 3, prev: prevOf(h2)}), 6), ErrBrokenChain},
		{"object hash upper case", anchor, func() format.Submission { s := w.sub(h2, 2); s.ObjectHash = strings.ToUpper(objHash(0xabc)); return s }(), ErrInvalid},
		{"object hash short", anchor, func() format.Submission { s := w.sub(h2, 2); s.ObjectHash = s.ObjectHash[:63]; return s }(), ErrInvalid},
		{"empty location", anchor, func() format.Submission { s := w.sub(h2, 2); s.Location = ""; return s }(), ErrInvalid},
		{"location too long", anchor, func() format.Submission { s := w.sub(h2, 2); s.Location = strings.Repeat("x", maxLocation+1); return s }(), ErrInvalid},
		{"header not canonical", anchor, func() format.Submission {
			bad := append([]byte{0xb8, h2[0] & 0x1f}, h2[1:]...)
			return format.Submission{Header: bad, HeaderSig: format.SignHeader(w.priv, bad), ObjectHash: objHash(2), Location: "fs:x"}
		}(), ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.st.snapshot()
			events := len(w.st.events)
			cred, recorded, err := RecordCredential(w.st, c.caller, c.sub)
			if !errors.Is(err, c.want) {
				t.Fatalf("RecordCredential: %v (cred %v, recorded %v), want %v", err, cred, recorded, c.want)
			}
			if recorded || cred != nil {
				t.Fatalf("refused submission returned recorded=%v cred=%v", recorded, cred)
			}
			if !maps.Equal(before, w.st.snapshot()) || len(w.st.events) != events {
				t.Fatal("refused submission changed the state")
			}
		})
	}
	// After all that, the proper block 2 is still accepted.
	if _, recorded, err := RecordCredential(w.st, anchor, w.sub(h2, 2)); err != nil || !recorded {
		t.Fatalf("block 2: recorded=%v err=%v", recorded, err)
	}
}

func TestRecordCredentialIdempotent(t *testing.T) {
	w := newWorld(t)
	hdrs := w.chain(t, 2, nil)
	before := w.st.snapshot()
	events := len(w.st.events)
	for i, hb := range hdrs {
		cred, recorded, err := RecordCredential(w.st, anchor, w.sub(hb, i))
		if err != nil {
			t.Fatalf("re-submission of block %d: %v", i, err)
		}
		if recorded {
			t.Fatalf("re-submission of block %d recorded again", i)
		}
		if cred == nil || cred.BlockID != format.BlockID(hb) || cred.ObjectHash != objHash(i) {
			t.Fatalf("re-submission of block %d returned %+v", i, cred)
		}
	}
	if !maps.Equal(before, w.st.snapshot()) || len(w.st.events) != events {
		t.Fatal("idempotent re-submission wrote to the state or emitted an event")
	}
}

func TestListByAppliance(t *testing.T) {
	w := newWorld(t)
	hdrs := w.chain(t, 5, nil)
	// Another appliance whose id extends this one's must not show up.
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	if err := RegisterAppliance(w.st, policy, admin, Appliance{ID: appID + "0", PublicKey: pub2, AnchorMSP: anchor.MSPID, AnchorID: anchor.ID}); err != nil {
		t.Fatal(err)
	}
	other := header(t, hdrOpts{app: appID + "0", height: 0})
	if _, _, err := RecordCredential(w.st, anchor, format.Submission{Header: other, HeaderSig: format.SignHeader(priv2, other), ObjectHash: objHash(50), Location: "fs:y"}); err != nil {
		t.Fatal(err)
	}

	var pages [][]uint64
	bookmark := ""
	for i := 0; ; i++ {
		if i > 5 {
			t.Fatal("pagination does not end")
		}
		p, err := ListByAppliance(w.st, appID, 2, bookmark)
		if err != nil {
			t.Fatal(err)
		}
		var hs []uint64
		for _, c := range p.Credentials {
			if c.ApplianceID != appID {
				t.Fatalf("listing of %s returned a credential of %s", appID, c.ApplianceID)
			}
			if c.BlockID != format.BlockID(hdrs[c.Height]) {
				t.Fatalf("height %d: wrong block", c.Height)
			}
			hs = append(hs, c.Height)
		}
		pages = append(pages, hs)
		if p.Bookmark == "" {
			break
		}
		bookmark = p.Bookmark
	}
	if fmt.Sprint(pages) != "[[0 1] [2 3] [4]]" {
		t.Fatalf("pages %v, want [[0 1] [2 3] [4]]", pages)
	}

	p, err := ListByAppliance(w.st, appID, 0, "") // default limit
	if err != nil || len(p.Credentials) != 5 || p.Bookmark != "" {
		t.Fatalf("unpaginated listing: %d credentials, bookmark %q, %v", len(p.Credentials), p.Bookmark, err)
	}
	if p, err := ListByAppliance(w.st, "app-none", 10, ""); err != nil || len(p.Credentials) != 0 {
		t.Fatalf("listing of an unknown appliance: %v, %v", p, err)
	}
}

func TestListByDevice(t *testing.T) {
	w := newWorld(t)
	// Block h covers time [h*1000, h*1000+999]; devices alternate.
	devs := [][]string{{"oven", "press"}, {"press"}, {"oven"}, {"press"}, {"oven", "press"}}
	w.chain(t, 5, func(h uint64) hdrOpts { return hdrOpts{devices: devs[h]} })

	cases := []struct {
		device   string
		from, to int64
		want     string
	}{
		{"press", 0, 10_000, "[0 1 3 4]"},
		{"oven", 0, 10_000, "[0 2 4]"},
		{"press", 1500, 3200, "[1 3]"},
		{"press", 999, 1000, "[0 1]"}, // both edges inclusive
		{"press", 1999, 1999, "[1]"},  // a single instant
		{"press", 2000, 2999, "[]"},   // block 2 has no press readings
		{"oven", 5000, 9000, "[]"},    // after every block
		{"oven", -100, -1, "[]"},      // before every block
		{"pump", 0, 10_000, "[]"},
	}
	for _, c := range cases {
		p, err := ListByDevice(w.st, c.device, c.from, c.to, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		hs := []uint64{}
		for _, cr := range p.Credentials {
			if !slices.Contains(cr.Devices, c.device) {
				t.Fatalf("credential of block %d listed for %s but holds %v", cr.Height, c.device, cr.Devices)
			}
			hs = append(hs, cr.Height)
		}
		if fmt.Sprint(hs) != c.want {
			t.Errorf("ListByDevice(%s, %d, %d) = %v, want %s", c.device, c.from, c.to, hs, c.want)
		}
	}
}

func TestTamperedCredentialRefused(t *testing.T) {
	w := newWorld(t)
	hdrs := w.chain(t, 2, nil)
	id := format.BlockID(hdrs[1])
	key, _ := CompositeKey(keyCredential, id)
	orig := w.st.kv[key]

	cases := []struct {
		name   string
		modify func(c map[string]any)
	}{
		{"first seq", func(c map[string]any) { c["firstSeq"] = c["firstSeq"].(float64) + 1 }},
		{"last seq", func(c map[string]any) { c["lastSeq"] = c["lastSeq"].(float64) - 1 }},
		{"count", func(c map[string]any) { c["count"] = 3 }},
		{"first time", func(c map[string]any) { c["firstTime"] = 0 }},
		{"devices", func(c map[string]any) { c["devices"] = []string{"oven"} }},
		{"merkle root", func(c map[string]any) { c["merkleRoot"] = strings.Repeat("00", 32) }},
		{"height", func(c map[string]any) { c["height"] = 0 }},
		{"appliance", func(c map[string]any) { c["applianceId"] = "app-2" }},
		{"block id", func(c map[string]any) { c["blockId"] = objHash(1) }},
		{"prev block id", func(c map[string]any) { c["prevBlockId"] = objHash(1) }},
		{"header replaced by block 0's", func(c map[string]any) { c["header"] = hdrs[0] }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(orig, &m); err != nil {
				t.Fatal(err)
			}
			c.modify(m)
			v, _ := json.Marshal(m)
			w.st.kv[key] = v
			defer func() { w.st.kv[key] = orig }()
			if cr, err := GetCredential(w.st, id); err == nil {
				t.Fatalf("tampered credential returned: %+v", cr)
			}
			if _, err := CredentialAt(w.st, appID, 1); err == nil {
				t.Fatal("CredentialAt returned the tampered credential")
			}
			if _, err := ListByAppliance(w.st, appID, 10, ""); err == nil {
				t.Fatal("ListByAppliance returned the tampered credential")
			}
		})
	}
	w.st.kv[key] = []byte("{not json")
	if _, err := GetCredential(w.st, id); err == nil {
		t.Fatal("corrupt credential returned")
	}
	w.st.kv[key] = orig
	if _, err := GetCredential(w.st, id); err != nil {
		t.Fatalf("restored credential refused: %v", err)
	}
}
