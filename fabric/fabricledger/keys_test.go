package fabricledger

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/wire"
)

// A key history from the peer is what verification trusts to pick a
// block's key, so one the contract could not have written is refused.
func TestKeyHistoryResult(t *testing.T) {
	pub1, _, _ := ed25519.GenerateKey(rand.Reader)
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	k1 := rules.ApplianceKey{ID: format.KeyID(pub1), PublicKey: pub1, ToHeight: 5, RegisteredAt: 1, RotatedAt: 2}
	k2 := rules.ApplianceKey{ID: format.KeyID(pub2), PublicKey: pub2, FromHeight: 5, RegisteredAt: 2}
	good := rules.Appliance{ID: testApp, PublicKey: pub2, Keys: []rules.ApplianceKey{k1, k2}}

	a, err := keyHistoryResult(wire.TxRotateApplianceKey, mustJSON(good), testApp)
	if err != nil || len(a.Keys) != 2 {
		t.Fatalf("genuine history: %+v, %v", a, err)
	}
	// A chaincode older than key history returns a bare public key.
	a, err = applianceResult(mustJSON(rules.Appliance{ID: testApp, PublicKey: pub1}), testApp)
	if err != nil || len(a.Keys) != 1 || a.Keys[0].ID != k1.ID || a.Keys[0].FromHeight != 0 {
		t.Fatalf("record without history: %+v, %v", a, err)
	}

	// A current key cut by its revocation ends at its cut (KEYS-SPEC 4).
	cut := good
	cut.Keys = []rules.ApplianceKey{k1, k2}
	cut.Keys[1].ToHeight, cut.Keys[1].Cut, cut.Keys[1].CompromisedAt = 7, true, 3
	if a, err := keyHistoryResult(wire.TxRevokeApplianceKey, mustJSON(cut), testApp); err != nil || a.Keys[1].ToHeight != 7 {
		t.Fatalf("current key cut by its revocation: %+v, %v", a, err)
	}

	for name, edit := range map[string]func(a *rules.Appliance){
		"cut key ends before it starts": func(a *rules.Appliance) { a.Keys[1].ToHeight, a.Keys[1].Cut = 4, true },
		"id not of its key":             func(a *rules.Appliance) { a.Keys[0].ID = "0123456789abcdef" },
		"gap in heights":                func(a *rules.Appliance) { a.Keys[1].FromHeight = 6 },
		"first key not from 0":          func(a *rules.Appliance) { a.Keys[0].FromHeight = 1 },
		"current key closed":            func(a *rules.Appliance) { a.Keys[1].ToHeight = 9 },
		"public key not current":        func(a *rules.Appliance) { a.PublicKey = pub1 },
		"short key":                     func(a *rules.Appliance) { a.Keys[1].PublicKey = pub2[:31] },
		"no keys, no public key":        func(a *rules.Appliance) { a.Keys, a.PublicKey = nil, nil },
	} {
		t.Run(name, func(t *testing.T) {
			bad := good
			bad.Keys = []rules.ApplianceKey{k1, k2}
			edit(&bad)
			_, err := keyHistoryResult(wire.TxRevokeApplianceKey, mustJSON(bad), testApp)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), wire.TxRevokeApplianceKey) {
				t.Fatalf("error %q does not name the transaction", err)
			}
		})
	}
}
