package contract

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/cid"
	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/wire"
)

const (
	manufacturer = "ManufacturerMSP"
	partner      = "PartnerMSP"
)

type fixture struct {
	t      *testing.T
	w      *world
	cc     shim.Chaincode
	admin  identity // manufacturer admin
	anchor identity // the appliance's anchoring identity (a manufacturer client)
	priv   ed25519.PrivateKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cc, err := NewChaincode(rules.Policy{ManufacturerMSP: manufacturer})
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		t: t, w: newWorld(), cc: cc, priv: priv,
		admin:  newIdentity(t, manufacturer, "Admin@manufacturer", AdminOU),
		anchor: newIdentity(t, manufacturer, "appliance-1@manufacturer", "client"),
	}
}

// idOf is the identity id the contract sees for who (cid's GetID).
func idOf(t *testing.T, who identity) string {
	t.Helper()
	id, err := cid.GetID(&txStub{creator: who.creator})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) register(who identity, app rules.Appliance) error {
	b, _ := json.Marshal(app)
	return f.result(f.w.invoke(f.cc, who, wire.TxRegisterAppliance, string(b)), nil)
}

func (f *fixture) appliance() rules.Appliance {
	return rules.Appliance{ID: "app-1", PublicKey: f.priv.Public().(ed25519.PublicKey), AnchorMSP: manufacturer, AnchorID: idOf(f.t, f.anchor)}
}

// result decodes a response like a client does: a tagged error or JSON.
func (f *fixture) result(resp interface {
	GetStatus() int32
	GetMessage() string
	GetPayload() []byte
}, v any) error {
	f.t.Helper()
	if resp.GetStatus() != shim.OK {
		if e := wire.Decode(resp.GetMessage()); e != nil {
			return e
		}
		return errors.New(resp.GetMessage())
	}
	if v != nil {
		if err := json.Unmarshal(resp.GetPayload(), v); err != nil {
			f.t.Fatalf("decode %s: %v", resp.GetPayload(), err)
		}
	}
	return nil
}

func (f *fixture) anchorBlock(who identity, sub format.Submission) (*wire.Anchored, error) {
	b, _ := json.Marshal(sub)
	var out wire.Anchored
	err := f.result(f.w.invoke(f.cc, who, wire.TxRecordCredential, string(b)), &out)
	return &out, err
}

// submission builds a signed block header of the fixture's appliance.
func (f *fixture) submission(height uint64, prev []byte, devices ...string) format.Submission {
	f.t.Helper()
	root := sha256.Sum256([]byte("readings " + strconv.FormatUint(height, 10)))
	h := &format.Header{
		Version: format.HeaderV1, ApplianceID: "app-1", Height: height, PrevHash: prev,
		FirstSeq: height*10 + 1, LastSeq: height*10 + 10, Count: 10,
		FirstTime: int64(height) * 1000, LastTime: int64(height)*1000 + 999,
		Devices: devices, MerkleRoot: root[:], SealedAt: int64(height)*1000 + 1000,
	}
	hb, err := h.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	obj := sha256.Sum256(hb)
	return format.Submission{Header: hb, HeaderSig: format.SignHeader(f.priv, hb), ObjectHash: hex.EncodeToString(obj[:]), Location: "s3://blocks/" + format.BlockID(hb)}
}

func TestRegisterApplianceNeedsManufacturerAdmin(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		who  identity
		want error
	}{
		{"manufacturer client", newIdentity(t, manufacturer, "User1@manufacturer", "client"), rules.ErrForbidden},
		{"partner admin", newIdentity(t, partner, "Admin@partner", AdminOU), rules.ErrForbidden},
		{"manufacturer admin", f.admin, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.register(tc.who, f.appliance()); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("register: %v, want %v", err, tc.want)
			}
		})
	}
	var got rules.Appliance
	if err := f.result(f.w.invoke(f.cc, f.admin, wire.TxGetAppliance, "app-1"), &got); err != nil {
		t.Fatal(err)
	}
	if got.OwnerMSP != manufacturer || got.AnchorID != idOf(t, f.anchor) {
		t.Fatalf("appliance %+v", got)
	}
	err := f.register(f.admin, rules.Appliance{ID: "bad"})
	if !errors.Is(err, rules.ErrInvalid) {
		t.Fatalf("invalid appliance: %v", err)
	}
}

func TestRecordCredential(t *testing.T) {
	f := newFixture(t)
	if err := f.register(f.admin, f.appliance()); err != nil {
		t.Fatal(err)
	}
	sub0 := f.submission(0, nil, "dev-a", "dev-b")

	got, err := f.anchorBlock(f.anchor, sub0)
	if err != nil || !got.Recorded || got.Credential.BlockID != format.BlockID(sub0.Header) {
		t.Fatalf("first anchor: %+v, %v", got, err)
	}
	if got.Credential.SignerID != idOf(t, f.anchor) || got.Credential.SignerMSP != manufacturer {
		t.Fatalf("signer %s/%s", got.Credential.SignerMSP, got.Credential.SignerID)
	}

	again, err := f.anchorBlock(f.anchor, sub0)
	if err != nil || again.Recorded || again.Credential.BlockID != got.Credential.BlockID {
		t.Fatalf("re-submission: %+v, %v", again, err)
	}

	conflicting := sub0
	conflicting.Location = "s3://elsewhere"
	badSig := f.submission(1, mustHex(t, got.Credential.BlockID), "dev-a")
	badSig.HeaderSig = append([]byte(nil), badSig.HeaderSig...)
	badSig.HeaderSig[0] ^= 0xff
	orphan := f.submission(2, make([]byte, 32), "dev-a")
	for _, tc := range []struct {
		name string
		who  identity
		sub  format.Submission
		want error
	}{
		{"other identity", newIdentity(t, manufacturer, "User2@manufacturer", "client"), sub0, rules.ErrForbidden},
		{"partner", newIdentity(t, partner, "User1@partner", "client"), sub0, rules.ErrForbidden},
		{"conflict", f.anchor, conflicting, rules.ErrConflict},
		{"bad signature", f.anchor, badSig, rules.ErrBadSignature},
		{"gap in chain", f.anchor, orphan, rules.ErrBrokenChain},
		{"garbage header", f.anchor, format.Submission{Header: []byte("x"), ObjectHash: sub0.ObjectHash, Location: "l"}, rules.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.anchorBlock(tc.who, tc.sub); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if resp := f.w.invoke(f.cc, f.anchor, wire.TxRecordCredential, "{not json"); resp.GetStatus() == shim.OK || !errors.Is(wire.Decode(resp.GetMessage()), rules.ErrInvalid) {
		t.Fatalf("bad JSON: %d %s", resp.GetStatus(), resp.GetMessage())
	}

	sub1 := f.submission(1, mustHex(t, got.Credential.BlockID), "dev-b")
	if a, err := f.anchorBlock(f.anchor, sub1); err != nil || !a.Recorded {
		t.Fatalf("block 1: %+v %v", a, err)
	}

	var at format.Credential
	if err := f.result(f.w.invoke(f.cc, f.anchor, wire.TxCredentialAt, "app-1", "1"), &at); err != nil || at.BlockID != format.BlockID(sub1.Header) {
		t.Fatalf("CredentialAt 1: %+v %v", at, err)
	}
	var byID format.Credential
	if err := f.result(f.w.invoke(f.cc, f.anchor, wire.TxGetCredential, at.BlockID), &byID); err != nil || byID.Height != 1 {
		t.Fatalf("GetCredential: %+v %v", byID, err)
	}
	if err := f.result(f.w.invoke(f.cc, f.anchor, wire.TxGetCredential, "nope"), nil); !errors.Is(err, rules.ErrNotFound) {
		t.Fatalf("missing credential: %v", err)
	}
}

func TestListingsPageWithBookmarks(t *testing.T) {
	f := newFixture(t)
	if err := f.register(f.admin, f.appliance()); err != nil {
		t.Fatal(err)
	}
	var prev []byte
	var ids []string
	for h := uint64(0); h < 3; h++ {
		sub := f.submission(h, prev, "dev-a")
		if _, err := f.anchorBlock(f.anchor, sub); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, format.BlockID(sub.Header))
		prev = mustHex(t, ids[h])
	}

	var seen []string
	bookmark := ""
	for page := 0; ; page++ {
		var p format.Page
		if err := f.result(f.w.invoke(f.cc, f.anchor, wire.TxListByAppliance, "app-1", "2", bookmark), &p); err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Credentials {
			seen = append(seen, c.BlockID)
		}
		if bookmark = p.Bookmark; bookmark == "" {
			break
		}
		if page > 3 {
			t.Fatal("bookmark never ends")
		}
	}
	if len(seen) != 3 || seen[0] != ids[0] || seen[2] != ids[2] {
		t.Fatalf("listed %v, want %v", seen, ids)
	}

	var p format.Page
	// Block h covers appliance times [h*1000, h*1000+999].
	if err := f.result(f.w.invoke(f.cc, f.anchor, wire.TxListByDevice, "dev-a", "1500", "2100", "10", ""), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Credentials) != 2 || p.Credentials[0].Height != 1 || p.Credentials[1].Height != 2 {
		t.Fatalf("by device: %+v", p.Credentials)
	}
}

func TestApplianceHistory(t *testing.T) {
	f := newFixture(t)
	app := f.appliance()
	if err := f.register(f.admin, app); err != nil {
		t.Fatal(err)
	}
	// Key rotation: a second version of the appliance's record.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if err := f.result(f.w.invoke(f.cc, f.admin, wire.TxRotateApplianceKey, "app-1", base64.StdEncoding.EncodeToString(pub), "0"), nil); err != nil {
		t.Fatal(err)
	}
	var hist []wire.HistoryEntry
	if err := f.result(f.w.invoke(f.cc, f.anchor, wire.TxApplianceHistory, "app-1"), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || !ed25519.PublicKey(hist[1].Appliance.PublicKey).Equal(pub) || len(hist[1].Appliance.Keys) != 2 || hist[0].TxID == hist[1].TxID {
		t.Fatalf("history %+v", hist)
	}
	if err := f.result(f.w.invoke(f.cc, f.anchor, wire.TxApplianceHistory, "app-2"), nil); !errors.Is(err, rules.ErrUnknownAppliance) {
		t.Fatalf("history of unknown appliance: %v", err)
	}
}

// The key transactions take their time from the transaction's timestamp,
// are for manufacturer admins only, and a revoked key's block comes back to
// the client as rules.ErrKeyRevoked.
func TestRotateAndRevokeApplianceKey(t *testing.T) {
	f := newFixture(t)
	if err := f.register(f.admin, f.appliance()); err != nil {
		t.Fatal(err)
	}
	registeredAt := f.w.clock.UnixNano()
	s0 := f.submission(0, nil, "dev-a")
	a0, err := f.anchorBlock(f.anchor, s0)
	if err != nil {
		t.Fatal(err)
	}
	k1 := format.KeyID(f.priv.Public().(ed25519.PublicKey))
	if a0.Credential.KeyID != k1 || a0.Credential.AnchoredAt != f.w.clock.UnixNano() {
		t.Fatalf("credential key %s at %d, want %s at the transaction's %d", a0.Credential.KeyID, a0.Credential.AnchoredAt, k1, f.w.clock.UnixNano())
	}

	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	b64 := base64.StdEncoding.EncodeToString(pub2)
	for _, tc := range []struct {
		name string
		who  identity
		args []string
		want error
	}{
		{"rotation by the anchoring identity", f.anchor, []string{wire.TxRotateApplianceKey, "app-1", b64, "1"}, rules.ErrForbidden},
		{"key not base64", f.admin, []string{wire.TxRotateApplianceKey, "app-1", "%%%", "1"}, rules.ErrInvalid},
		{"rotation from an anchored height", f.admin, []string{wire.TxRotateApplianceKey, "app-1", b64, "0"}, rules.ErrConflict},
		{"revocation by the anchoring identity", f.anchor, []string{wire.TxRevokeApplianceKey, "app-1", k1, "1", ""}, rules.ErrForbidden},
		{"revocation of an unknown key", f.admin, []string{wire.TxRevokeApplianceKey, "app-1", "0123456789abcdef", "1", ""}, rules.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.result(f.w.invoke(f.cc, tc.who, tc.args[0], tc.args[1:]...), nil); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}

	// Compromised just after block 0 was anchored: block 1 is refused.
	compromised := a0.Credential.AnchoredAt + 1
	var a rules.Appliance
	if err := f.result(f.w.invoke(f.cc, f.admin, wire.TxRevokeApplianceKey, "app-1", k1, strconv.FormatInt(compromised, 10), "stolen"), &a); err != nil {
		t.Fatal(err)
	}
	if k := a.Keys[0]; k.RevokedAt != f.w.clock.UnixNano() || k.CompromisedAt != compromised || k.RevokeReason != "stolen" || k.RegisteredAt != registeredAt {
		t.Fatalf("revoked key %+v", k)
	}
	s1 := f.submission(1, mustHex(t, a0.Credential.BlockID), "dev-a")
	if _, err := f.anchorBlock(f.anchor, s1); !errors.Is(err, rules.ErrKeyRevoked) {
		t.Fatalf("block 1 under the revoked key: %v", err)
	}

	// Rotated from height 1: block 1 under the new key is accepted.
	if err := f.result(f.w.invoke(f.cc, f.admin, wire.TxRotateApplianceKey, "app-1", b64, "1"), &a); err != nil {
		t.Fatal(err)
	}
	if k := a.Current(); k.ID != format.KeyID(pub2) || k.FromHeight != 1 || k.RegisteredAt != f.w.clock.UnixNano() || a.Keys[0].ToHeight != 1 {
		t.Fatalf("after rotation %+v", a.Keys)
	}
	s1.HeaderSig, s1.KeyID = format.SignHeader(priv2, s1.Header), format.KeyID(pub2)
	if a1, err := f.anchorBlock(f.anchor, s1); err != nil || a1.Credential.KeyID != format.KeyID(pub2) {
		t.Fatalf("block 1 under the new key: %+v, %v", a1, err)
	}
}

func TestAnchorEmitsOneEvent(t *testing.T) {
	f := newFixture(t)
	if err := f.register(f.admin, f.appliance()); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(f.submission(0, nil, "dev-a"))
	stub := &txStub{world: f.w, txID: "t", ts: timestamppb.New(f.w.clock), creator: f.anchor.creator, args: []string{wire.TxRecordCredential, string(b)}, writes: map[string][]byte{}}
	if resp := f.cc.Invoke(stub); resp.GetStatus() != shim.OK {
		t.Fatal(resp.GetMessage())
	}
	if len(stub.events) != 1 || stub.events[0] != rules.EventBlockAnchored {
		t.Fatalf("events %v", stub.events)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
