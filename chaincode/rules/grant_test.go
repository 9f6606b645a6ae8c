package rules

import (
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"maps"
	"testing"
)

var (
	ownerAdmin  = Caller{MSPID: "OwnerMSP", ID: "owner-admin", Admin: true}
	ownerClient = Caller{MSPID: "OwnerMSP", ID: "owner-client"}
	partner     = Caller{MSPID: "PartnerMSP", ID: "partner-admin", Admin: true}
)

func partnerKey(t *testing.T) []byte {
	t.Helper()
	priv, err := hpke.DHKEM(ecdh.X25519()).GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return priv.PublicKey().Bytes()
}

func grant(t *testing.T) Grant {
	return Grant{ID: "g-1", ApplianceID: appID, PartnerMSP: "PartnerMSP", PartnerKEM: 0x0020, PartnerKey: partnerKey(t),
		Devices: []string{"press-1", "boiler-1", "press-1"}, From: 1000, To: 2000}
}

func TestRecordGrantByOwnerOnly(t *testing.T) {
	w := newWorld(t)
	g := grant(t)
	for _, c := range []struct {
		name   string
		caller Caller
		edit   func(*Grant)
		want   error
	}{
		{"partner grants itself", partner, nil, ErrForbidden},
		{"owner non-admin", ownerClient, nil, ErrForbidden},
		{"manufacturer admin of another org", admin, nil, ErrForbidden},
		{"owner grants itself", ownerAdmin, func(g *Grant) { g.PartnerMSP = "OwnerMSP" }, ErrForbidden},
		{"unknown appliance", ownerAdmin, func(g *Grant) { g.ApplianceID = "nope" }, ErrUnknownAppliance},
		{"inverted range", ownerAdmin, func(g *Grant) { g.From, g.To = 5, 4 }, ErrInvalid},
		{"bad partner key", ownerAdmin, func(g *Grant) { g.PartnerKey = []byte("short") }, ErrInvalid},
		{"unknown KEM", ownerAdmin, func(g *Grant) { g.PartnerKEM = 0x7777 }, ErrInvalid},
		{"no id", ownerAdmin, func(g *Grant) { g.ID = "" }, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := w.st.snapshot()
			gg := g
			if c.edit != nil {
				c.edit(&gg)
			}
			if _, _, err := RecordGrant(w.st, c.caller, gg, 1); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !maps.Equal(before, w.st.snapshot()) {
				t.Fatal("a refused grant changed the state")
			}
		})
	}

	rec, recorded, err := RecordGrant(w.st, ownerAdmin, g, 500)
	if err != nil || !recorded {
		t.Fatalf("owner's grant: %v %v", recorded, err)
	}
	if rec.OwnerMSP != "OwnerMSP" || rec.GrantedAt != 500 || len(rec.Devices) != 2 || rec.Devices[0] != "boiler-1" {
		t.Fatalf("recorded grant: %+v", rec)
	}
	if _, recorded, err := RecordGrant(w.st, ownerAdmin, g, 600); err != nil || recorded {
		t.Fatalf("identical grant again: recorded %v, %v", recorded, err)
	}
	other := g
	other.To = 3000
	if _, _, err := RecordGrant(w.st, ownerAdmin, other, 600); !errors.Is(err, ErrConflict) {
		t.Fatalf("other terms under the same id: %v", err)
	}
}

func TestRevokeGrant(t *testing.T) {
	w := newWorld(t)
	if _, _, err := RecordGrant(w.st, ownerAdmin, grant(t), 500); err != nil {
		t.Fatal(err)
	}
	if _, err := RevokeGrant(w.st, partner, appID, "g-1", 900); !errors.Is(err, ErrForbidden) {
		t.Fatalf("partner revokes: %v", err)
	}
	if _, err := RevokeGrant(w.st, ownerAdmin, appID, "g-2", 900); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown grant: %v", err)
	}
	g, err := RevokeGrant(w.st, ownerAdmin, appID, "g-1", 900)
	if err != nil || g.RevokedAt != 900 {
		t.Fatalf("revoke: %+v %v", g, err)
	}
	if g, _ := RevokeGrant(w.st, ownerAdmin, appID, "g-1", 950); g.RevokedAt != 900 {
		t.Fatalf("second revocation moved the time to %d", g.RevokedAt)
	}
	page, err := ListGrants(w.st, appID, 10, "")
	if err != nil || len(page.Grants) != 1 || page.Grants[0].RevokedAt != 900 {
		t.Fatalf("list: %+v %v", page, err)
	}
}

func TestGrantCovers(t *testing.T) {
	g := Grant{Devices: []string{"press-1"}, From: 1000, To: 2000}
	revoked := g
	revoked.RevokedAt = 1500
	all := Grant{From: 1000, To: 2000}
	cases := []struct {
		name                  string
		g                     Grant
		devices               []string
		first, last, sealedAt int64
		want                  bool
	}{
		{"inside", g, []string{"press-1", "env-1"}, 1100, 1200, 1300, true},
		{"overlaps start", g, []string{"press-1"}, 900, 1000, 1300, true},
		{"overlaps end", g, []string{"press-1"}, 2000, 2100, 2200, true},
		{"before", g, []string{"press-1"}, 800, 999, 1300, false},
		{"after", g, []string{"press-1"}, 2001, 2100, 2200, false},
		{"other device", g, []string{"env-1"}, 1100, 1200, 1300, false},
		{"all devices", all, []string{"env-1"}, 1100, 1200, 1300, true},
		{"sealed before revocation", revoked, []string{"press-1"}, 1100, 1200, 1499, true},
		{"sealed at revocation", revoked, []string{"press-1"}, 1100, 1200, 1500, false},
		{"sealed after revocation", revoked, []string{"press-1"}, 1100, 1200, 1600, false},
	}
	for _, c := range cases {
		if got := c.g.Covers(c.devices, c.first, c.last, c.sealedAt); got != c.want {
			t.Errorf("%s: Covers = %v", c.name, got)
		}
	}
}
