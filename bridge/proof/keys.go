package proof

import (
	"fmt"
	"strings"
	"time"

	"github.com/wotchain/wotchain/chaincode/rules"
)

// Key history (issue #14): a block is checked with the key that was valid
// for it, never with the appliance's current key.

// KeyOf returns the appliance key that signed its block at height: the
// key of that height in the appliance's history. keyID is the key the
// credential names (empty in credentials recorded before key history); a
// credential naming another key than the height's is refused, since the
// contract accepts a block only under the key of its height.
func KeyOf(app *rules.Appliance, keyID string, height uint64) (rules.ApplianceKey, error) {
	k, ok := app.KeyForHeight(height)
	if !ok {
		return rules.ApplianceKey{}, fmt.Errorf("appliance %s has no key for block %d", app.ID, height)
	}
	if keyID != "" && keyID != k.ID {
		if named, ok := app.Key(keyID); ok {
			return rules.ApplianceKey{}, fmt.Errorf("the credential names key %s (heights %s) of appliance %s, but block %d is signed by key %s (heights %s)",
				keyID, named.Heights(), app.ID, height, k.ID, k.Heights())
		}
		return rules.ApplianceKey{}, fmt.Errorf("the credential names key %s, which appliance %s does not have", keyID, app.ID)
	}
	return k, nil
}

// covers reports whether k, alone, signs height h: a current key (never
// rotated, nor cut by its revocation) from its first height on, any other
// up to its ToHeight.
func covers(k rules.ApplianceKey, h uint64) bool {
	return h >= k.FromHeight && (k.Open() || h < k.ToHeight)
}

// KeyValidity describes when a key was valid, for reports: "heights
// 0..11, registered 2026-12-08T01:02:03Z, rotated ..., revoked ...".
func KeyValidity(k rules.ApplianceKey) string {
	parts := []string{"heights " + k.Heights()}
	if k.RegisteredAt != 0 {
		parts = append(parts, "registered "+ledgerTime(k.RegisteredAt))
	} else {
		parts = append(parts, "registered before key history")
	}
	if k.RotatedAt != 0 {
		parts = append(parts, "rotated "+ledgerTime(k.RotatedAt))
	}
	if k.RevokedAt != 0 {
		parts = append(parts, fmt.Sprintf("revoked %s as compromised at %s (%s)", ledgerTime(k.RevokedAt), ledgerTime(k.CompromisedAt), k.RevokeReason))
	}
	return strings.Join(parts, ", ")
}

// CheckSigningKey applies the revocation rule to a block anchored at
// anchoredAt (Unix ns, the credential's) under key k: a key compromised at
// or before the anchoring cannot vouch for the block. A block anchored
// before the compromise passes, with a note, since the ledger's time
// proves it existed before; one whose anchoring time is unknown (recorded
// before key history) cannot be placed before it and fails. ok is false
// when the check fails; detail says why either way.
func CheckSigningKey(k rules.ApplianceKey, anchoredAt int64) (ok bool, detail string) {
	switch {
	case k.CompromisedAt == 0:
		return true, fmt.Sprintf("key %s is not revoked", k.ID)
	case anchoredAt == 0:
		return false, fmt.Sprintf("key %s compromised at %s (%s): the block's anchoring time is unknown (anchored before key history), so it cannot be placed before the compromise",
			k.ID, ledgerTime(k.CompromisedAt), k.RevokeReason)
	case k.RevokedFor(anchoredAt):
		return false, fmt.Sprintf("key %s compromised at %s (%s): block anchored at %s, after it",
			k.ID, ledgerTime(k.CompromisedAt), k.RevokeReason, ledgerTime(anchoredAt))
	}
	return true, fmt.Sprintf("key %s was revoked (compromised at %s: %s), but the block was anchored at %s, before the compromise",
		k.ID, ledgerTime(k.CompromisedAt), k.RevokeReason, ledgerTime(anchoredAt))
}

// ledgerTime renders a ledger time (Unix ns) in UTC.
func ledgerTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}
