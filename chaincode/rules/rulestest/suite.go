package rulestest

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
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
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Run runs every case of the suite, each on a new empty ledger from
// newLedger.
func Run(t *testing.T, newLedger func(t *testing.T) Ledger) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, newLedger func(t *testing.T) Ledger)
	}{
		{"ReadsSeeCommittedStateOnly", testReadsSeeCommittedStateOnly},
		{"RegisterAppliance", testRegisterAppliance},
		{"RecordCredentialAccepted", testRecordCredentialAccepted},
		{"RecordCredentialRefused", testRecordCredentialRefused},
		{"RecordCredentialIdempotent", testRecordCredentialIdempotent},
		{"RecordCredentialV2", testRecordCredentialV2},
		{"ListByAppliance", testListByAppliance},
		{"ListByDevice", testListByDevice},
		{"TamperedCredentialRefused", testTamperedCredentialRefused},
		{"RecordCredentialsMatchesSingles", testRecordCredentialsMatchesSingles},
		{"RecordCredentialsIdempotentMix", testRecordCredentialsIdempotentMix},
		{"RecordCredentialsRefused", testRecordCredentialsRefused},
		{"RecordCredentialsAtCountLimit", testRecordCredentialsAtCountLimit},
		{"RecordGrantByOwnerOnly", testRecordGrantByOwnerOnly},
		{"RevokeGrant", testRevokeGrant},
		{"RegisterKeepsKeyHistory", testRegisterKeepsKeyHistory},
		{"OldFormatApplianceRecord", testOldFormatApplianceRecord},
		{"RotateApplianceKey", testRotateApplianceKey},
		{"RotateBeforeFirstBlock", testRotateBeforeFirstBlock},
		{"AnchoringAcrossRotation", testAnchoringAcrossRotation},
		{"RevokeApplianceKey", testRevokeApplianceKey},
		{"RevokeBetweenTwoBlocks", testRevokeBetweenTwoBlocks},
		{"RevokeCutsRotatedKey", testRevokeCutsRotatedKey},
		{"RevokeCutsCurrentKey", testRevokeCutsCurrentKey},
		{"RevokeCutsNothingAnchored", testRevokeCutsNothingAnchored},
		{"RevokeCutsAcrossKeys", testRevokeCutsAcrossKeys},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newLedger) })
	}
}

const (
	makerMSP = "MakerMSP"
	appID    = "app-1"
	// keyCredential and maxLocation are the rules' own (unexported): the
	// object type of credential keys and the longest storage location.
	keyCredential = "cred"
	maxLocation   = 1024
)

var (
	policy      = rules.Policy{ManufacturerMSP: makerMSP}
	admin       = rules.Caller{MSPID: makerMSP, ID: "maker-admin", Admin: true}
	anchor      = rules.Caller{MSPID: "OwnerMSP", ID: "app-1-anchor"}
	ownerAdmin  = rules.Caller{MSPID: "OwnerMSP", ID: "owner-admin", Admin: true}
	ownerClient = rules.Caller{MSPID: "OwnerMSP", ID: "owner-client"}
	partner     = rules.Caller{MSPID: "PartnerMSP", ID: "partner-admin", Admin: true}
)

// recorder passes a transaction's calls on and remembers the writes and
// events it attempted, so that a refused transaction can be shown to have
// attempted nothing that would change the state, whatever the ledger does
// with a failed transaction's writes.
type recorder struct {
	rules.State
	writes map[string][]byte
	events []string
}

func (r *recorder) PutState(key string, value []byte) error {
	r.writes[key] = slices.Clone(value)
	return r.State.PutState(key, value)
}

func (r *recorder) SetEvent(name string, payload []byte) error {
	r.events = append(r.events, name)
	return r.State.SetEvent(name, payload)
}

type world struct {
	l     Ledger
	pub   ed25519.PublicKey
	priv  ed25519.PrivateKey
	last  *recorder // the last transaction's
	clock int64     // the last transaction's time (Unix ns); each transaction advances it by 1 s
	still bool      // the clock stands still
}

// startClock is the time of a world's first transaction.
const startClock int64 = 1_800_000_000_000_000_000

// tick advances the world's transaction clock.
func (w *world) tick() int64 {
	if w.clock == 0 {
		w.clock = startClock
	}
	if !w.still {
		w.clock += 1e9
	}
	return w.clock
}

func newWorld(t *testing.T, newLedger func(t *testing.T) Ledger) *world {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	w := &world{l: newLedger(t), pub: pub, priv: priv}
	if err := w.register(admin, rules.Appliance{ID: appID, PublicKey: pub, AnchorMSP: anchor.MSPID, AnchorID: anchor.ID, OwnerMSP: "OwnerMSP"}); err != nil {
		t.Fatal(err)
	}
	return w
}

// tx runs fn as one transaction, recorded in w.last.
func (w *world) tx(fn func(st rules.State) error) error {
	return w.l.Tx(func(st rules.State) error {
		w.last = &recorder{State: st, writes: map[string][]byte{}}
		return fn(w.last)
	})
}

func (w *world) register(caller rules.Caller, a rules.Appliance) error {
	now := w.tick()
	return w.tx(func(st rules.State) error { return rules.RegisterAppliance(st, policy, caller, a, now) })
}

func (w *world) rotate(caller rules.Caller, app string, pub []byte, from uint64) (a *rules.Appliance, err error) {
	now := w.tick()
	err = w.tx(func(st rules.State) (err error) {
		a, err = rules.RotateApplianceKey(st, policy, caller, app, pub, from, now)
		return err
	})
	return a, err
}

func (w *world) revoke(caller rules.Caller, app, keyID string, compromisedAt int64, reason string) (a *rules.Appliance, err error) {
	now := w.tick()
	err = w.tx(func(st rules.State) (err error) {
		a, err = rules.RevokeApplianceKey(st, policy, caller, app, keyID, compromisedAt, reason, now)
		return err
	})
	return a, err
}

func (w *world) record(caller rules.Caller, sub format.Submission) (c *format.Credential, recorded bool, err error) {
	now := w.tick()
	err = w.tx(func(st rules.State) (err error) {
		c, recorded, err = rules.RecordCredential(st, caller, sub, now)
		return err
	})
	return c, recorded, err
}

func (w *world) recordBatch(caller rules.Caller, subs []format.Submission) (out []format.Anchored, err error) {
	now := w.tick()
	err = w.tx(func(st rules.State) (err error) {
		out, err = rules.RecordCredentials(st, caller, subs, now)
		return err
	})
	return out, err
}

func (w *world) appliance(id string) (a *rules.Appliance, err error) {
	err = w.tx(func(st rules.State) (err error) { a, err = rules.GetAppliance(st, id); return err })
	return a, err
}

func (w *world) credential(id string) (c *format.Credential, err error) {
	err = w.tx(func(st rules.State) (err error) { c, err = rules.GetCredential(st, id); return err })
	return c, err
}

func (w *world) credentialAt(app string, height uint64) (c *format.Credential, err error) {
	err = w.tx(func(st rules.State) (err error) { c, err = rules.CredentialAt(st, app, height); return err })
	return c, err
}

func (w *world) listByAppliance(app string, limit int, bookmark string) (p *format.Page, err error) {
	err = w.tx(func(st rules.State) (err error) { p, err = rules.ListByAppliance(st, app, limit, bookmark); return err })
	return p, err
}

func (w *world) listByDevice(device string, from, to int64, limit int, bookmark string) (p *format.Page, err error) {
	err = w.tx(func(st rules.State) (err error) {
		p, err = rules.ListByDevice(st, device, from, to, limit, bookmark)
		return err
	})
	return p, err
}

func (w *world) recordGrant(caller rules.Caller, g rules.Grant, now int64) (rec *rules.Grant, recorded bool, err error) {
	err = w.tx(func(st rules.State) (err error) {
		rec, recorded, err = rules.RecordGrant(st, caller, g, now)
		return err
	})
	return rec, recorded, err
}

func (w *world) revokeGrant(caller rules.Caller, app, id string, now int64) (g *rules.Grant, err error) {
	err = w.tx(func(st rules.State) (err error) { g, err = rules.RevokeGrant(st, caller, app, id, now); return err })
	return g, err
}

func (w *world) listGrants(app string, limit int, bookmark string) (p *rules.GrantPage, err error) {
	err = w.tx(func(st rules.State) (err error) { p, err = rules.ListGrants(st, app, limit, bookmark); return err })
	return p, err
}

// put writes a raw value, as a ledger-side tamperer would.
func (w *world) put(t *testing.T, key string, value []byte) {
	t.Helper()
	if err := w.l.Tx(func(st rules.State) error { return st.PutState(key, value) }); err != nil {
		t.Fatal(err)
	}
}

func (w *world) snapshot() map[string]string {
	s := map[string]string{}
	for k, v := range w.l.Committed() {
		s[k] = string(v)
	}
	return s
}

func (w *world) events() []string {
	var out []string
	for _, e := range w.l.Events() {
		out = append(out, e.Name)
	}
	return out
}

// changedNothing reports whether the state is still before with events
// events, and the last transaction attempted no write that would change
// before and no event.
func (w *world) changedNothing(before map[string]string, events int) bool {
	for k, v := range w.last.writes {
		if old, ok := before[k]; !ok || old != string(v) {
			return false
		}
	}
	return maps.Equal(before, w.snapshot()) && len(w.events()) == events && len(w.last.events) == 0
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
	version  uint8  // 0: v1
	polls    uint64 // v2 only; 0 in a v2 header: one poll
	rawPolls bool   // take polls as given, even 0 or with v1, to build refused headers
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
	if o.version == 0 {
		o.version = format.HeaderV1
	}
	if o.version == format.HeaderV2 && o.polls == 0 && !o.rawPolls {
		o.polls = 1
	}
	root := make([]byte, 32)
	root[0], root[1] = byte(o.height), o.rootByte
	h := &format.Header{
		Version: o.version, ApplianceID: o.app, Height: o.height, PrevHash: o.prev,
		FirstSeq: o.first, LastSeq: o.first + o.n - 1, FirstTime: o.from, LastTime: o.to,
		Devices: o.devices, Count: o.n, MerkleRoot: root, SealedAt: 5, Polls: o.polls,
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

func (w *world) subs(hdrs [][]byte, firstObj int) []format.Submission {
	var out []format.Submission
	for i, hb := range hdrs {
		out = append(out, w.sub(hb, firstObj+i))
	}
	return out
}

func prevOf(hb []byte) []byte {
	b, _ := hex.DecodeString(format.BlockID(hb))
	return b
}

// chain records n linked blocks of appliance app one by one and returns
// their headers.
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
		if _, recorded, err := w.record(anchor, w.sub(hb, i)); err != nil || !recorded {
			t.Fatalf("block %d: recorded=%v err=%v", i, recorded, err)
		}
		out = append(out, hb)
		prev = prevOf(hb)
	}
	return out
}

// linked returns n headers linked from prev, starting at height from.
func linked(t *testing.T, from uint64, prev []byte, n int, opts func(height uint64) hdrOpts) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		h := from + uint64(i)
		o := hdrOpts{}
		if opts != nil {
			o = opts(h)
		}
		o.height, o.prev = h, prev
		hb := header(t, o)
		out = append(out, hb)
		prev = prevOf(hb)
	}
	return out
}

// batchEvent decodes the ledger's single event, which must be a
// BlocksAnchored event, to its credentials.
func batchEvent(t *testing.T, w *world, since int) []*format.Credential {
	t.Helper()
	events := w.l.Events()[since:]
	if len(events) != 1 || events[0].Name != rules.EventBlocksAnchored {
		t.Fatalf("events %v, want one %s", w.events()[since:], rules.EventBlocksAnchored)
	}
	var creds []*format.Credential
	if err := json.Unmarshal(events[0].Payload, &creds); err != nil {
		t.Fatalf("event payload: %v", err)
	}
	return creds
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// A transaction's reads see committed state only, never its own writes
// (Fabric's rule, which the rules are written for); a failed transaction
// commits nothing.
func testReadsSeeCommittedStateOnly(t *testing.T, newLedger func(t *testing.T) Ledger) {
	l := newLedger(t)
	if err := l.Tx(func(st rules.State) error {
		if err := st.PutState("k", []byte("v1")); err != nil {
			return err
		}
		if v, err := st.GetState("k"); err != nil || v != nil {
			t.Errorf("a transaction read its own write: %q, %v", v, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Tx(func(st rules.State) error {
		if err := st.PutState("k", []byte("v2")); err != nil {
			return err
		}
		if v, err := st.GetState("k"); err != nil || string(v) != "v1" {
			t.Errorf("read %q, %v; want the committed v1", v, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	if err := l.Tx(func(st rules.State) error {
		if err := st.PutState("k", []byte("v3")); err != nil {
			return err
		}
		if err := st.PutState("other", []byte("x")); err != nil {
			return err
		}
		return refused
	}); !errors.Is(err, refused) {
		t.Fatalf("failed transaction: %v", err)
	}
	if got := l.Committed(); len(got) != 1 || string(got["k"]) != "v2" {
		t.Fatalf("committed state %q, want k=v2 only", got)
	}
}

func testRegisterAppliance(t *testing.T, newLedger func(t *testing.T) Ledger) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	good := rules.Appliance{ID: "app-9", PublicKey: pub, AnchorMSP: "OwnerMSP", AnchorID: "anchor"}
	cases := []struct {
		name   string
		caller rules.Caller
		app    rules.Appliance
		want   error
	}{
		{"non-admin of manufacturer", rules.Caller{MSPID: makerMSP, ID: "clerk"}, good, rules.ErrForbidden},
		{"admin of another MSP", rules.Caller{MSPID: "OwnerMSP", ID: "admin", Admin: true}, good, rules.ErrForbidden},
		{"non-admin of another MSP", anchor, good, rules.ErrForbidden},
		{"empty id", admin, func() rules.Appliance { a := good; a.ID = ""; return a }(), rules.ErrInvalid},
		{"short key", admin, func() rules.Appliance { a := good; a.PublicKey = pub[:31]; return a }(), rules.ErrInvalid},
		{"no anchor MSP", admin, func() rules.Appliance { a := good; a.AnchorMSP = ""; return a }(), rules.ErrInvalid},
		{"no anchor id", admin, func() rules.Appliance { a := good; a.AnchorID = ""; return a }(), rules.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &world{l: newLedger(t)}
			if err := w.register(c.caller, c.app); !errors.Is(err, c.want) {
				t.Fatalf("RegisterAppliance: %v, want %v", err, c.want)
			}
			if n := len(w.last.writes); n != 0 || len(w.l.Committed()) != 0 {
				t.Fatalf("refused registration wrote %d keys", n)
			}
			if _, err := w.appliance(c.app.ID); err == nil {
				t.Fatal("refused appliance is registered")
			}
		})
	}

	w := &world{l: newLedger(t)}
	if err := w.register(admin, good); err != nil {
		t.Fatal(err)
	}
	a, err := w.appliance("app-9")
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.PublicKey(a.PublicKey).Equal(pub) || a.AnchorMSP != "OwnerMSP" || a.AnchorID != "anchor" || a.OwnerMSP != makerMSP {
		t.Fatalf("registered %+v", a)
	}
	if _, err := w.appliance("app-8"); !errors.Is(err, rules.ErrUnknownAppliance) {
		t.Fatalf("GetAppliance of an unregistered id: %v", err)
	}
	// Re-registration (new anchoring identity) replaces the record.
	good.AnchorID = "anchor-2"
	if err := w.register(admin, good); err != nil {
		t.Fatal(err)
	}
	if a, _ := w.appliance("app-9"); a.AnchorID != "anchor-2" {
		t.Fatalf("re-registration not applied: %+v", a)
	}
}

func testRecordCredentialAccepted(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hb := header(t, hdrOpts{height: 0, devices: []string{"oven", "press"}})
	sub := w.sub(hb, 1)
	cred, recorded, err := w.record(anchor, sub)
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
	if !slices.Equal(w.events(), []string{rules.EventBlockAnchored}) {
		t.Fatalf("events %v", w.events())
	}
	got, err := w.credential(cred.BlockID)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(cred)
	if string(a) != string(b) {
		t.Fatalf("GetCredential = %s, recorded %s", a, b)
	}
	if at, err := w.credentialAt(appID, 0); err != nil || at.BlockID != cred.BlockID {
		t.Fatalf("CredentialAt(0) = %v, %v", at, err)
	}
	if _, err := w.credentialAt(appID, 1); !errors.Is(err, rules.ErrNotFound) {
		t.Fatalf("CredentialAt(1): %v", err)
	}
	if _, err := w.credential(objHash(99)); !errors.Is(err, rules.ErrNotFound) {
		t.Fatalf("GetCredential of an unknown block: %v", err)
	}

	// The next block links to it.
	hb1 := header(t, hdrOpts{height: 1, prev: prevOf(hb)})
	c1, recorded, err := w.record(anchor, w.sub(hb1, 2))
	if err != nil || !recorded || c1.PrevBlockID != cred.BlockID {
		t.Fatalf("block 1: %+v recorded=%v err=%v", c1, recorded, err)
	}
}

func testRecordCredentialRefused(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	hdrs := w.chain(t, 2, nil) // heights 0 and 1 recorded

	h2 := header(t, hdrOpts{height: 2, prev: prevOf(hdrs[1])})
	unknown := header(t, hdrOpts{app: "app-2", height: 0})
	cases := []struct {
		name   string
		caller rules.Caller
		sub    format.Submission
		want   error
	}{
		{"other identity in the anchor MSP", rules.Caller{MSPID: anchor.MSPID, ID: "someone"}, w.sub(h2, 2), rules.ErrForbidden},
		{"anchor id in another MSP", rules.Caller{MSPID: "EvilMSP", ID: anchor.ID}, w.sub(h2, 2), rules.ErrForbidden},
		{"manufacturer admin", admin, w.sub(h2, 2), rules.ErrForbidden},
		{"header signed by another key", anchor, format.Submission{Header: h2, HeaderSig: format.SignHeader(otherPriv, h2), ObjectHash: objHash(2), Location: "fs:x"}, rules.ErrBadSignature},
		{"signature of another header", anchor, format.Submission{Header: h2, HeaderSig: format.SignHeader(w.priv, hdrs[1]), ObjectHash: objHash(2), Location: "fs:x"}, rules.ErrBadSignature},
		{"signature without domain", anchor, format.Submission{Header: h2, HeaderSig: ed25519.Sign(w.priv, h2), ObjectHash: objHash(2), Location: "fs:x"}, rules.ErrBadSignature},
		{"unknown appliance", rules.Caller{MSPID: anchor.MSPID, ID: anchor.ID}, w.sub(unknown, 3), rules.ErrUnknownAppliance},
		{"same header, other object hash", anchor, w.sub(hdrs[1], 77), rules.ErrConflict},
		{"same header, other location", anchor, func() format.Submission { s := w.sub(hdrs[1], 1); s.Location = "s3:elsewhere"; return s }(), rules.ErrConflict},
		{"other block at occupied height 1", anchor, w.sub(header(t, hdrOpts{height: 1, prev: prevOf(hdrs[0]), rootByte: 9}), 5), rules.ErrConflict},
		{"other block at occupied height 0", anchor, w.sub(header(t, hdrOpts{height: 0, rootByte: 9}), 5), rules.ErrConflict},
		{"prev hash does not match", anchor, w.sub(header(t, hdrOpts{height: 2, prev: prevOf(hdrs[0])}), 6), rules.ErrBrokenChain},
		{"predecessor missing", anchor, w.sub(header(t, hdrOpts{height: 3, prev: prevOf(h2)}), 6), rules.ErrBrokenChain},
		{"object hash upper case", anchor, func() format.Submission { s := w.sub(h2, 2); s.ObjectHash = strings.ToUpper(objHash(0xabc)); return s }(), rules.ErrInvalid},
		{"object hash short", anchor, func() format.Submission { s := w.sub(h2, 2); s.ObjectHash = s.ObjectHash[:63]; return s }(), rules.ErrInvalid},
		{"empty location", anchor, func() format.Submission { s := w.sub(h2, 2); s.Location = ""; return s }(), rules.ErrInvalid},
		{"location too long", anchor, func() format.Submission { s := w.sub(h2, 2); s.Location = strings.Repeat("x", maxLocation+1); return s }(), rules.ErrInvalid},
		{"header not canonical", anchor, func() format.Submission {
			bad := append([]byte{0xb8, h2[0] & 0x1f}, h2[1:]...)
			return format.Submission{Header: bad, HeaderSig: format.SignHeader(w.priv, bad), ObjectHash: objHash(2), Location: "fs:x"}
		}(), rules.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.snapshot()
			events := len(w.events())
			cred, recorded, err := w.record(c.caller, c.sub)
			if !errors.Is(err, c.want) {
				t.Fatalf("RecordCredential: %v (cred %v, recorded %v), want %v", err, cred, recorded, c.want)
			}
			if recorded || cred != nil {
				t.Fatalf("refused submission returned recorded=%v cred=%v", recorded, cred)
			}
			if !w.changedNothing(before, events) {
				t.Fatal("refused submission changed the state")
			}
		})
	}
	// After all that, the proper block 2 is still accepted.
	if _, recorded, err := w.record(anchor, w.sub(h2, 2)); err != nil || !recorded {
		t.Fatalf("block 2: recorded=%v err=%v", recorded, err)
	}
}

func testRecordCredentialIdempotent(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 2, nil)
	before := w.snapshot()
	events := len(w.events())
	for i, hb := range hdrs {
		cred, recorded, err := w.record(anchor, w.sub(hb, i))
		if err != nil {
			t.Fatalf("re-submission of block %d: %v", i, err)
		}
		if recorded {
			t.Fatalf("re-submission of block %d recorded again", i)
		}
		if cred == nil || cred.BlockID != format.BlockID(hb) || cred.ObjectHash != objHash(i) {
			t.Fatalf("re-submission of block %d returned %+v", i, cred)
		}
		if !w.changedNothing(before, events) {
			t.Fatal("idempotent re-submission wrote to the state or emitted an event")
		}
	}
}

// Header version 2 (issue #18) is accepted next to version 1: a chain
// upgraded in place goes on from its v1 blocks with v2 blocks, alone and in
// a batch. A v2 header without polls, with more polls than readings, a v1
// header with a poll count and an unknown version are refused, and change
// nothing.
func testRecordCredentialV2(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 2, func(h uint64) hdrOpts {
		if h == 0 {
			return hdrOpts{} // v1
		}
		return hdrOpts{version: format.HeaderV2, polls: 3, devices: []string{"oven", "press"}}
	})
	cred, err := w.credential(format.BlockID(hdrs[1]))
	if err != nil {
		t.Fatal(err)
	}
	h, err := format.ParseHeader(cred.Header)
	if err != nil || h.Version != format.HeaderV2 || h.Polls != 3 {
		t.Fatalf("recorded v2 header: %+v, %v", h, err)
	}
	if cred.Height != 1 || cred.PrevBlockID != format.BlockID(hdrs[0]) || fmt.Sprint(cred.Devices) != "[oven press]" {
		t.Fatalf("v2 credential %+v", cred)
	}
	if p, err := w.listByDevice("oven", 0, 1<<40, 10, ""); err != nil || len(p.Credentials) != 1 || p.Credentials[0].Height != 1 {
		t.Fatalf("ListByDevice(oven): %+v, %v", p, err)
	}

	next := header(t, hdrOpts{height: 2, prev: prevOf(hdrs[1]), version: format.HeaderV2, polls: 10})
	cases := []struct {
		name string
		o    hdrOpts
	}{
		{"v2 without polls", hdrOpts{version: format.HeaderV2, rawPolls: true}},
		{"v2 with more polls than readings", hdrOpts{version: format.HeaderV2, polls: 11}},
		{"v1 with polls", hdrOpts{polls: 1, rawPolls: true}},
		{"version 3", hdrOpts{version: 3, polls: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.height, c.o.prev = 2, prevOf(hdrs[1])
			hb := header(t, c.o)
			before := w.snapshot()
			events := len(w.events())
			if cr, recorded, err := w.record(anchor, w.sub(hb, 2)); !errors.Is(err, rules.ErrInvalid) || recorded || cr != nil {
				t.Fatalf("RecordCredential: recorded=%v %v, want %v", recorded, err, rules.ErrInvalid)
			}
			if out, err := w.recordBatch(anchor, []format.Submission{w.sub(next, 2), w.sub(header(t, func() hdrOpts { o := c.o; o.height, o.prev = 3, prevOf(next); return o }()), 3)}); !errors.Is(err, rules.ErrInvalid) || out != nil {
				t.Fatalf("RecordCredentials with the header last: %v, %v", out, err)
			}
			if !w.changedNothing(before, events) {
				t.Fatal("a refused header changed the state")
			}
		})
	}

	// A batch of v2 blocks, and a v2 block re-submitted, as for v1.
	more := linked(t, 2, prevOf(hdrs[1]), 2, func(uint64) hdrOpts { return hdrOpts{version: format.HeaderV2, polls: 10} })
	if !bytes.Equal(more[0], next) {
		t.Fatal("linked built another block 2")
	}
	out, err := w.recordBatch(anchor, w.subs(more, 2))
	if err != nil || len(out) != 2 || !out[0].Recorded || !out[1].Recorded {
		t.Fatalf("v2 batch: %+v, %v", out, err)
	}
	if _, recorded, err := w.record(anchor, w.sub(more[1], 3)); err != nil || recorded {
		t.Fatalf("v2 block re-submitted: recorded=%v %v", recorded, err)
	}
	if p, err := w.listByAppliance(appID, 10, ""); err != nil || len(p.Credentials) != 4 {
		t.Fatalf("ListByAppliance: %+v, %v", p, err)
	}
}

func testListByAppliance(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 5, nil)
	// Another appliance whose id extends this one's must not show up.
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	if err := w.register(admin, rules.Appliance{ID: appID + "0", PublicKey: pub2, AnchorMSP: anchor.MSPID, AnchorID: anchor.ID}); err != nil {
		t.Fatal(err)
	}
	other := header(t, hdrOpts{app: appID + "0", height: 0})
	if _, _, err := w.record(anchor, format.Submission{Header: other, HeaderSig: format.SignHeader(priv2, other), ObjectHash: objHash(50), Location: "fs:y"}); err != nil {
		t.Fatal(err)
	}

	var pages [][]uint64
	bookmark := ""
	for i := 0; ; i++ {
		if i > 5 {
			t.Fatal("pagination does not end")
		}
		p, err := w.listByAppliance(appID, 2, bookmark)
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

	p, err := w.listByAppliance(appID, 0, "") // default limit
	if err != nil || len(p.Credentials) != 5 || p.Bookmark != "" {
		t.Fatalf("unpaginated listing: %d credentials, bookmark %q, %v", len(p.Credentials), p.Bookmark, err)
	}
	if p, err := w.listByAppliance("app-none", 10, ""); err != nil || len(p.Credentials) != 0 {
		t.Fatalf("listing of an unknown appliance: %v, %v", p, err)
	}
}

func testListByDevice(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
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
		p, err := w.listByDevice(c.device, c.from, c.to, 100, "")
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

func testTamperedCredentialRefused(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 2, nil)
	id := format.BlockID(hdrs[1])
	key, _ := rules.CompositeKey(keyCredential, id)
	orig := w.l.Committed()[key]
	if orig == nil {
		t.Fatalf("no credential under %q", key)
	}

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
			w.put(t, key, v)
			defer w.put(t, key, orig)
			if cr, err := w.credential(id); err == nil {
				t.Fatalf("tampered credential returned: %+v", cr)
			}
			if _, err := w.credentialAt(appID, 1); err == nil {
				t.Fatal("CredentialAt returned the tampered credential")
			}
			if _, err := w.listByAppliance(appID, 10, ""); err == nil {
				t.Fatal("ListByAppliance returned the tampered credential")
			}
		})
	}
	w.put(t, key, []byte("{not json"))
	if _, err := w.credential(id); err == nil {
		t.Fatal("corrupt credential returned")
	}
	w.put(t, key, orig)
	if _, err := w.credential(id); err != nil {
		t.Fatalf("restored credential refused: %v", err)
	}
}

// A batch records exactly what the same blocks submitted one by one
// record, and announces them in one event. Block N+1 finds block N only
// through the rules' overlay: a transaction's GetState does not see its own
// writes.
func testRecordCredentialsMatchesSingles(t *testing.T, newLedger func(t *testing.T) Ledger) {
	batch := newWorld(t, newLedger)
	// The same transaction time for every block, one by one or batched.
	batch.still = true
	single := &world{l: newLedger(t), pub: batch.pub, priv: batch.priv, clock: batch.clock, still: true}
	if err := single.register(admin, rules.Appliance{ID: appID, PublicKey: batch.pub, AnchorMSP: anchor.MSPID, AnchorID: anchor.ID, OwnerMSP: "OwnerMSP"}); err != nil {
		t.Fatal(err)
	}
	devs := [][]string{{"oven", "press"}, {"press"}, {"oven"}, {"press"}, {"oven", "press"}}
	hdrs := linked(t, 0, nil, 5, func(h uint64) hdrOpts { return hdrOpts{devices: devs[h]} })
	subs := batch.subs(hdrs, 0)

	var want []*format.Credential
	for _, s := range subs {
		c, recorded, err := single.record(anchor, s)
		if err != nil || !recorded {
			t.Fatalf("single: recorded=%v err=%v", recorded, err)
		}
		want = append(want, c)
	}

	since := len(batch.events())
	out, err := batch.recordBatch(anchor, subs)
	if err != nil {
		t.Fatalf("RecordCredentials: %v", err)
	}
	if len(out) != len(subs) {
		t.Fatalf("%d results for %d submissions", len(out), len(subs))
	}
	for i, a := range out {
		if !a.Recorded || !sameJSON(a.Credential, want[i]) {
			t.Fatalf("result %d: recorded=%v %+v, want %+v", i, a.Recorded, a.Credential, want[i])
		}
	}
	if !maps.Equal(batch.snapshot(), single.snapshot()) {
		t.Fatal("the batch wrote a different state than the same blocks one by one")
	}
	creds := batchEvent(t, batch, since)
	if len(creds) != 5 {
		t.Fatalf("event holds %d credentials, want 5", len(creds))
	}
	for i, c := range creds {
		if !sameJSON(c, want[i]) {
			t.Fatalf("event credential %d: %+v, want %+v", i, c, want[i])
		}
	}
	if _, err := batch.credentialAt(appID, 4); err != nil {
		t.Fatalf("block 4 after the batch: %v", err)
	}
}

// Blocks already on the ledger come back with Recorded=false and are left
// out of the event; a batch of only such blocks writes nothing and emits none.
func testRecordCredentialsIdempotentMix(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 2, nil) // 0 and 1 recorded one by one
	since := len(w.events())
	more := linked(t, 2, prevOf(hdrs[1]), 2, nil)
	subs := append([]format.Submission{w.sub(hdrs[1], 1)}, w.subs(more, 2)...)

	recorded1, _ := w.credential(format.BlockID(hdrs[1]))
	out, err := w.recordBatch(anchor, subs)
	if err != nil {
		t.Fatalf("RecordCredentials: %v", err)
	}
	var got []bool
	for _, a := range out {
		got = append(got, a.Recorded)
	}
	if !slices.Equal(got, []bool{false, true, true}) {
		t.Fatalf("recorded %v, want [false true true]", got)
	}
	if !sameJSON(out[0].Credential, recorded1) {
		t.Fatalf("re-submitted block 1 returned %+v, want the recorded %+v", out[0].Credential, recorded1)
	}
	creds := batchEvent(t, w, since)
	if len(creds) != 2 || creds[0].Height != 2 || creds[1].Height != 3 {
		t.Fatalf("event holds %d credentials (%+v), want heights 2 and 3", len(creds), creds)
	}

	// Everything again: nothing written, no event.
	before := w.snapshot()
	events := len(w.events())
	all := append(w.subs(hdrs, 0), w.subs(more, 2)...)
	out, err = w.recordBatch(anchor, all)
	if err != nil {
		t.Fatalf("re-submission: %v", err)
	}
	for i, a := range out {
		if a.Recorded || a.Credential.Height != uint64(i) {
			t.Fatalf("re-submission result %d: recorded=%v height %d", i, a.Recorded, a.Credential.Height)
		}
	}
	if len(w.last.writes) != 0 || len(w.last.events) != 0 {
		t.Fatalf("re-submission wrote %d keys, events %v", len(w.last.writes), w.last.events)
	}
	if !w.changedNothing(before, events) {
		t.Fatal("re-submission changed the state")
	}
}

func testRecordCredentialsRefused(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	hdrs := w.chain(t, 2, nil) // heights 0 and 1 recorded
	next := linked(t, 2, prevOf(hdrs[1]), 3, nil)
	good := w.subs(next, 2) // heights 2, 3, 4

	with := func(i int, edit func(*format.Submission)) []format.Submission {
		s := slices.Clone(good)
		edit(&s[i])
		return s
	}
	// A block 3 that links to block 0 instead of block 2 of the batch.
	h3Bad := header(t, hdrOpts{height: 3, prev: prevOf(hdrs[0])})
	h2Other := header(t, hdrOpts{height: 2, prev: prevOf(hdrs[1]), rootByte: 9})
	unknown := linked(t, 0, nil, 2, func(uint64) hdrOpts { return hdrOpts{app: "app-2"} })
	tooBig := linked(t, 2, prevOf(hdrs[1]), 9, func(uint64) hdrOpts {
		var devs []string
		for d := range 2000 {
			devs = append(devs, fmt.Sprintf("device-%05d-with-a-long-name", d))
		}
		return hdrOpts{devices: devs}
	})
	cases := []struct {
		name   string
		caller rules.Caller
		subs   []format.Submission
		want   error
		msg    string // the error names the block
	}{
		{"other identity", rules.Caller{MSPID: anchor.MSPID, ID: "someone"}, good, rules.ErrForbidden, "block 2"},
		{"manufacturer admin", admin, good, rules.ErrForbidden, "block 2"},
		{"unknown appliance", anchor, w.subs(unknown, 0), rules.ErrUnknownAppliance, "block 0"},
		{"bad signature in the middle", anchor, with(1, func(s *format.Submission) { s.HeaderSig = format.SignHeader(otherPriv, s.Header) }), rules.ErrBadSignature, "block 3"},
		{"bad signature last", anchor, with(2, func(s *format.Submission) { s.HeaderSig = format.SignHeader(otherPriv, s.Header) }), rules.ErrBadSignature, "block 4"},
		{"broken link inside the batch", anchor, []format.Submission{good[0], w.sub(h3Bad, 3)}, rules.ErrBrokenChain, "block 3"},
		{"first block does not link to the ledger", anchor, w.subs(linked(t, 2, prevOf(hdrs[0]), 2, nil), 2), rules.ErrBrokenChain, "block 2"},
		{"predecessor missing", anchor, good[1:], rules.ErrBrokenChain, "block 3"},
		{"recorded block with other object", anchor, append([]format.Submission{w.sub(hdrs[1], 77)}, good...), rules.ErrConflict, "block 1"},
		{"other block at an occupied height", anchor, w.subs(linked(t, 1, prevOf(hdrs[0]), 2, func(uint64) hdrOpts { return hdrOpts{rootByte: 9} }), 1), rules.ErrConflict, "block 1"},
		{"invalid object hash last", anchor, with(2, func(s *format.Submission) { s.ObjectHash = strings.ToUpper(objHash(0xabc)) }), rules.ErrInvalid, "block 4"},
		{"empty location", anchor, with(1, func(s *format.Submission) { s.Location = "" }), rules.ErrInvalid, "block 3"},
		{"same block twice", anchor, []format.Submission{good[0], good[0]}, rules.ErrInvalid, "batch entry 1 is block 2"},
		{"same height, other block", anchor, []format.Submission{good[0], w.sub(h2Other, 9)}, rules.ErrInvalid, "batch entry 1 is block 2"},
		{"gap", anchor, []format.Submission{good[0], good[2]}, rules.ErrInvalid, "batch entry 1 is block 4"},
		{"descending", anchor, []format.Submission{good[1], good[0]}, rules.ErrInvalid, "batch entry 1 is block 2"},
		{"two appliances", anchor, []format.Submission{w.sub(hdrs[0], 0), w.sub(unknown[1], 1)}, rules.ErrInvalid, "app-2"},
		{"garbage header", anchor, with(1, func(s *format.Submission) { s.Header = []byte("x") }), rules.ErrInvalid, "batch entry 1"},
		{"empty", anchor, nil, rules.ErrInvalid, "empty batch"},
		{"too many", anchor, slices.Repeat(good[:1], format.MaxBatchCount+1), rules.ErrInvalid, fmt.Sprintf("limit of %d", format.MaxBatchCount)},
		{"too many bytes", anchor, w.subs(tooBig, 2), rules.ErrInvalid, fmt.Sprintf("limit of %d", format.MaxBatchBytes)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.snapshot()
			events := len(w.events())
			out, err := w.recordBatch(c.caller, c.subs)
			if !errors.Is(err, c.want) {
				t.Fatalf("RecordCredentials: %v (results %v), want %v", err, out, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
			if out != nil || len(w.last.writes) != 0 || len(w.last.events) != 0 {
				t.Fatalf("refused batch returned %v, wrote %d keys, events %v", out, len(w.last.writes), w.last.events)
			}
			if !w.changedNothing(before, events) {
				t.Fatal("refused batch changed the state")
			}
		})
	}

	// After all that, the proper batch is accepted.
	if out, err := w.recordBatch(anchor, good); err != nil || len(out) != 3 || !out[2].Recorded {
		t.Fatalf("good batch: %v, %v", out, err)
	}
}

func testRecordCredentialsAtCountLimit(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	since := len(w.events())
	hdrs := linked(t, 0, nil, format.MaxBatchCount, nil)
	out, err := w.recordBatch(anchor, w.subs(hdrs, 0))
	if err != nil || len(out) != format.MaxBatchCount {
		t.Fatalf("batch of %d: %d results, %v", format.MaxBatchCount, len(out), err)
	}
	if creds := batchEvent(t, w, since); len(creds) != format.MaxBatchCount || creds[format.MaxBatchCount-1].Height != format.MaxBatchCount-1 {
		t.Fatalf("event holds %d credentials", len(creds))
	}
}

func partnerKey(t *testing.T) []byte {
	t.Helper()
	priv, err := hpke.DHKEM(ecdh.X25519()).GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return priv.PublicKey().Bytes()
}

func grant(t *testing.T) rules.Grant {
	return rules.Grant{ID: "g-1", ApplianceID: appID, PartnerMSP: "PartnerMSP", PartnerKEM: 0x0020, PartnerKey: partnerKey(t),
		Devices: []string{"press-1", "boiler-1", "press-1"}, From: 1000, To: 2000}
}

func testRecordGrantByOwnerOnly(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	g := grant(t)
	for _, c := range []struct {
		name   string
		caller rules.Caller
		edit   func(*rules.Grant)
		want   error
	}{
		{"partner grants itself", partner, nil, rules.ErrForbidden},
		{"owner non-admin", ownerClient, nil, rules.ErrForbidden},
		{"manufacturer admin of another org", admin, nil, rules.ErrForbidden},
		{"owner grants itself", ownerAdmin, func(g *rules.Grant) { g.PartnerMSP = "OwnerMSP" }, rules.ErrForbidden},
		{"unknown appliance", ownerAdmin, func(g *rules.Grant) { g.ApplianceID = "nope" }, rules.ErrUnknownAppliance},
		{"inverted range", ownerAdmin, func(g *rules.Grant) { g.From, g.To = 5, 4 }, rules.ErrInvalid},
		{"bad partner key", ownerAdmin, func(g *rules.Grant) { g.PartnerKey = []byte("short") }, rules.ErrInvalid},
		{"unknown KEM", ownerAdmin, func(g *rules.Grant) { g.PartnerKEM = 0x7777 }, rules.ErrInvalid},
		{"no id", ownerAdmin, func(g *rules.Grant) { g.ID = "" }, rules.ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := w.snapshot()
			events := len(w.events())
			gg := g
			if c.edit != nil {
				c.edit(&gg)
			}
			if _, _, err := w.recordGrant(c.caller, gg, 1); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !w.changedNothing(before, events) {
				t.Fatal("a refused grant changed the state")
			}
		})
	}

	rec, recorded, err := w.recordGrant(ownerAdmin, g, 500)
	if err != nil || !recorded {
		t.Fatalf("owner's grant: %v %v", recorded, err)
	}
	if rec.OwnerMSP != "OwnerMSP" || rec.GrantedAt != 500 || len(rec.Devices) != 2 || rec.Devices[0] != "boiler-1" {
		t.Fatalf("recorded grant: %+v", rec)
	}
	if _, recorded, err := w.recordGrant(ownerAdmin, g, 600); err != nil || recorded {
		t.Fatalf("identical grant again: recorded %v, %v", recorded, err)
	}
	other := g
	other.To = 3000
	if _, _, err := w.recordGrant(ownerAdmin, other, 600); !errors.Is(err, rules.ErrConflict) {
		t.Fatalf("other terms under the same id: %v", err)
	}
}

func testRevokeGrant(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	if _, _, err := w.recordGrant(ownerAdmin, grant(t), 500); err != nil {
		t.Fatal(err)
	}
	if _, err := w.revokeGrant(partner, appID, "g-1", 900); !errors.Is(err, rules.ErrForbidden) {
		t.Fatalf("partner revokes: %v", err)
	}
	if _, err := w.revokeGrant(ownerAdmin, appID, "g-2", 900); !errors.Is(err, rules.ErrNotFound) {
		t.Fatalf("revoke unknown grant: %v", err)
	}
	g, err := w.revokeGrant(ownerAdmin, appID, "g-1", 900)
	if err != nil || g.RevokedAt != 900 {
		t.Fatalf("revoke: %+v %v", g, err)
	}
	if g, _ := w.revokeGrant(ownerAdmin, appID, "g-1", 950); g.RevokedAt != 900 {
		t.Fatalf("second revocation moved the time to %d", g.RevokedAt)
	}
	page, err := w.listGrants(appID, 10, "")
	if err != nil || len(page.Grants) != 1 || page.Grants[0].RevokedAt != 900 {
		t.Fatalf("list: %+v %v", page, err)
	}
}
