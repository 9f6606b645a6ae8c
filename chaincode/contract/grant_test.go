package contract

import (
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/wire"
)

func (f *fixture) grant(id string) rules.Grant {
	f.t.Helper()
	kem := hpke.DHKEM(ecdh.X25519())
	priv, err := kem.GenerateKey()
	if err != nil {
		f.t.Fatal(err)
	}
	return rules.Grant{ID: id, ApplianceID: "app-1", PartnerMSP: partner, PartnerKEM: kem.ID(), PartnerKey: priv.PublicKey().Bytes(),
		Devices: []string{"dev-b", "dev-a"}, From: 1000, To: 5000}
}

func (f *fixture) recordGrant(who identity, g rules.Grant) (*wire.Granted, error) {
	f.t.Helper()
	b, _ := json.Marshal(g)
	var out wire.Granted
	err := f.result(f.w.invoke(f.cc, who, wire.TxRecordGrant, string(b)), &out)
	return &out, err
}

func (f *fixture) revokeGrant(who identity, applianceID, grantID string) (*rules.Grant, error) {
	f.t.Helper()
	var out rules.Grant
	err := f.result(f.w.invoke(f.cc, who, wire.TxRevokeGrant, applianceID, grantID), &out)
	return &out, err
}

func TestRecordGrant(t *testing.T) {
	f := newFixture(t)
	if err := f.register(f.admin, f.appliance()); err != nil {
		t.Fatal(err)
	}
	g := f.grant("g-1")
	partnerAdmin := newIdentity(t, partner, "Admin@partner", AdminOU)

	for _, tc := range []struct {
		name string
		who  identity
		want error
	}{
		{"partner admin grants itself", partnerAdmin, rules.ErrForbidden},
		{"manufacturer client", f.anchor, rules.ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := maps.Clone(f.w.state)
			if _, err := f.recordGrant(tc.who, g); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !maps.EqualFunc(before, f.w.state, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Fatal("a refused grant changed the state")
			}
		})
	}

	got, err := f.recordGrant(f.admin, g)
	if err != nil || !got.Recorded {
		t.Fatalf("owner admin records: %+v, %v", got, err)
	}
	granted := f.w.clock.UnixNano()
	rec := got.Grant
	if rec.GrantedAt != granted || rec.OwnerMSP != manufacturer || rec.GrantedBy != manufacturer+"/"+idOf(t, f.admin) || rec.RevokedAt != 0 {
		t.Fatalf("recorded grant %+v, want GrantedAt %d (the tx timestamp)", rec, granted)
	}
	if len(rec.Devices) != 2 || rec.Devices[0] != "dev-a" || string(rec.PartnerKey) != string(g.PartnerKey) {
		t.Fatalf("recorded terms %+v", rec)
	}

	// A later transaction with the same terms is a no-op keeping the first time.
	again, err := f.recordGrant(f.admin, g)
	if err != nil || again.Recorded || again.Grant.GrantedAt != granted {
		t.Fatalf("identical grant again: %+v, %v", again, err)
	}
	other := g
	other.To = 9000
	if _, err := f.recordGrant(f.admin, other); !errors.Is(err, rules.ErrConflict) {
		t.Fatalf("other terms under the same id: %v", err)
	}
	bad := f.grant("g-2")
	bad.PartnerKey = []byte("short")
	if _, err := f.recordGrant(f.admin, bad); !errors.Is(err, rules.ErrInvalid) {
		t.Fatalf("bad partner key: %v", err)
	}
	if err := f.result(f.w.invoke(f.cc, f.admin, wire.TxRecordGrant, "{not json"), nil); !errors.Is(err, rules.ErrInvalid) {
		t.Fatalf("bad JSON: %v", err)
	}
	unknown := f.grant("g-3")
	unknown.ApplianceID = "app-2"
	if _, err := f.recordGrant(f.admin, unknown); !errors.Is(err, rules.ErrUnknownAppliance) {
		t.Fatalf("grant on an unknown appliance: %v", err)
	}

	var read rules.Grant
	if err := f.result(f.w.invoke(f.cc, partnerAdmin, wire.TxGetGrant, "app-1", "g-1"), &read); err != nil || read.GrantedAt != granted {
		t.Fatalf("GetGrant: %+v, %v", read, err)
	}
	if err := f.result(f.w.invoke(f.cc, partnerAdmin, wire.TxGetGrant, "app-1", "nope"), nil); !errors.Is(err, rules.ErrNotFound) {
		t.Fatalf("missing grant: %v", err)
	}
}

func TestRevokeGrant(t *testing.T) {
	f := newFixture(t)
	if err := f.register(f.admin, f.appliance()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.recordGrant(f.admin, f.grant("g-1")); err != nil {
		t.Fatal(err)
	}
	partnerAdmin := newIdentity(t, partner, "Admin@partner", AdminOU)
	for _, tc := range []struct {
		name    string
		who     identity
		grantID string
		want    error
	}{
		{"partner admin", partnerAdmin, "g-1", rules.ErrForbidden},
		{"manufacturer client", f.anchor, "g-1", rules.ErrForbidden},
		{"unknown grant", f.admin, "g-2", rules.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.revokeGrant(tc.who, "app-1", tc.grantID); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}

	g, err := f.revokeGrant(f.admin, "app-1", "g-1")
	revoked := f.w.clock.UnixNano()
	if err != nil || g.RevokedAt != revoked {
		t.Fatalf("revoke: %+v, %v, want RevokedAt %d (the tx timestamp)", g, err, revoked)
	}
	if g, err := f.revokeGrant(f.admin, "app-1", "g-1"); err != nil || g.RevokedAt != revoked {
		t.Fatalf("second revocation: %+v, %v, want the first time kept", g, err)
	}
	var read rules.Grant
	if err := f.result(f.w.invoke(f.cc, partnerAdmin, wire.TxGetGrant, "app-1", "g-1"), &read); err != nil || read.RevokedAt != revoked {
		t.Fatalf("GetGrant after revocation: %+v, %v", read, err)
	}
}

func TestListGrantsPages(t *testing.T) {
	f := newFixture(t)
	if err := f.register(f.admin, f.appliance()); err != nil {
		t.Fatal(err)
	}
	want := []string{"g-1", "g-2", "g-3"}
	for _, id := range want {
		if _, err := f.recordGrant(f.admin, f.grant(id)); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	bookmark := ""
	for page := 0; ; page++ {
		var p rules.GrantPage
		if err := f.result(f.w.invoke(f.cc, f.anchor, wire.TxListGrants, "app-1", "2", bookmark), &p); err != nil {
			t.Fatal(err)
		}
		for _, g := range p.Grants {
			seen = append(seen, g.ID)
		}
		if bookmark = p.Bookmark; bookmark == "" {
			break
		}
		if page > 3 {
			t.Fatal("bookmark never ends")
		}
	}
	if len(seen) != 3 || seen[0] != want[0] || seen[2] != want[2] {
		t.Fatalf("listed %v, want %v", seen, want)
	}
	var empty rules.GrantPage
	if err := f.result(f.w.invoke(f.cc, f.anchor, wire.TxListGrants, "app-2", "10", ""), &empty); err != nil || len(empty.Grants) != 0 {
		t.Fatalf("grants of an appliance without any: %+v, %v", empty, err)
	}
}

// Grant transactions emit their one event, and refuse to run without a
// transaction timestamp rather than record time 0 (which means "never revoked").
func TestGrantEventsAndTimestamp(t *testing.T) {
	f := newFixture(t)
	if err := f.register(f.admin, f.appliance()); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(f.grant("g-1"))
	for _, tc := range []struct {
		name  string
		args  []string
		event string
	}{
		{"record", []string{wire.TxRecordGrant, string(b)}, rules.EventGrantRecorded},
		{"revoke", []string{wire.TxRevokeGrant, "app-1", "g-1"}, rules.EventGrantRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noTS := &txStub{world: f.w, txID: "no-ts", creator: f.admin.creator, args: tc.args, writes: map[string][]byte{}}
			if resp := f.cc.Invoke(noTS); resp.GetStatus() == shim.OK || !errors.Is(wire.Decode(resp.GetMessage()), rules.ErrInvalid) || !strings.Contains(resp.GetMessage(), "timestamp") {
				t.Fatalf("without a timestamp: %d %s", resp.GetStatus(), resp.GetMessage())
			}
			if len(noTS.writes) != 0 || len(noTS.events) != 0 {
				t.Fatalf("without a timestamp it wrote %d keys, events %v", len(noTS.writes), noTS.events)
			}
			stub := &txStub{world: f.w, txID: tc.name, ts: timestamppb.New(f.w.clock), creator: f.admin.creator, args: tc.args, writes: map[string][]byte{}}
			if resp := f.cc.Invoke(stub); resp.GetStatus() != shim.OK {
				t.Fatal(resp.GetMessage())
			}
			if len(stub.events) != 1 || stub.events[0] != tc.event {
				t.Fatalf("events %v, want [%s]", stub.events, tc.event)
			}
			maps.Copy(f.w.state, stub.writes)
		})
	}
}
