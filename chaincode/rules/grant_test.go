package rules

import "testing"

// ownerAdmin records grants in the fuzz targets.
var ownerAdmin = Caller{MSPID: "OwnerMSP", ID: "owner-admin", Admin: true}

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
