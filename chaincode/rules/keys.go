package rules

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/wotchain/wotchain/chaincode/format"
)

// Events of the key history, each with the appliance record (JSON) as payload.
const (
	EventApplianceKeyRotated = "ApplianceKeyRotated"
	EventApplianceKeyRevoked = "ApplianceKeyRevoked"
)

// defaultRevokeReason is the reason recorded when the caller gives none.
const defaultRevokeReason = "compromised"

// RotateApplianceKey gives an appliance a new signing key for its blocks
// from height fromHeight on: the current key then signs heights below
// fromHeight only. fromHeight is the appliance's next unsealed height (it
// seals its pending polls under the old key first), so it may not be
// below the current key's first height, and no block may be anchored at
// it yet. The key must be new to the appliance: a key comes back only
// through the history, never as a new entry. Manufacturer admins only.
func RotateApplianceKey(st State, p Policy, caller Caller, applianceID string, pub []byte, fromHeight uint64, now int64) (*Appliance, error) {
	if err := checkManufacturerAdmin(p, caller); err != nil {
		return nil, err
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: appliance %s: new public key of %d bytes, want %d", ErrInvalid, applianceID, len(pub), ed25519.PublicKeySize)
	}
	a, err := GetAppliance(st, applianceID)
	if err != nil {
		return nil, err
	}
	id := format.KeyID(pub)
	for _, k := range a.Keys {
		// The same id and another key would make Key(id) ambiguous.
		if bytes.Equal(k.PublicKey, pub) || k.ID == id {
			return nil, fmt.Errorf("%w: appliance %s already had key %s (heights %s): a rotation needs a new key", ErrConflict, a.ID, k.ID, k.Heights())
		}
	}
	cur := &a.Keys[len(a.Keys)-1]
	if fromHeight < cur.FromHeight {
		return nil, fmt.Errorf("%w: appliance %s: the new key cannot start at height %d, below height %d where the current key %s starts",
			ErrInvalid, a.ID, fromHeight, cur.FromHeight, cur.ID)
	}
	if c, err := CredentialAt(st, a.ID, fromHeight); err == nil {
		return nil, fmt.Errorf("%w: appliance %s: block %d is already anchored under key %s; rotate from the next unsealed height",
			ErrConflict, a.ID, fromHeight, keyOfCredential(a, c))
	} else if !isNotFound(err) {
		return nil, err
	}
	cur.ToHeight, cur.RotatedAt = fromHeight, now
	a.Keys = append(a.Keys, ApplianceKey{ID: id, PublicKey: bytes.Clone(pub), FromHeight: fromHeight, RegisteredAt: now})
	a.PublicKey = bytes.Clone(pub)
	if err := putApplianceEvent(st, a, EventApplianceKeyRotated); err != nil {
		return nil, err
	}
	return a, nil
}

// RevokeApplianceKey records that an appliance key was compromised at
// compromisedAt (Unix ns): from then on the ledger refuses blocks signed by
// it, while blocks anchored earlier stay valid, since the ledger's commit
// time proves they existed before. Revoking again can only move the
// compromise earlier; a later time leaves the record as it is. Manufacturer
// admins only; now is the transaction time.
func RevokeApplianceKey(st State, p Policy, caller Caller, applianceID, keyID string, compromisedAt int64, reason string, now int64) (*Appliance, error) {
	if err := checkManufacturerAdmin(p, caller); err != nil {
		return nil, err
	}
	a, err := GetAppliance(st, applianceID)
	if err != nil {
		return nil, err
	}
	i := -1
	for j, k := range a.Keys {
		if k.ID == keyID {
			i = j
		}
	}
	if i < 0 {
		return nil, fmt.Errorf("%w: appliance %s has no key %q", ErrNotFound, a.ID, keyID)
	}
	switch {
	case compromisedAt <= 0:
		return nil, fmt.Errorf("%w: appliance %s key %s: compromise time %d is not after 1970", ErrInvalid, a.ID, keyID, compromisedAt)
	case compromisedAt > now:
		return nil, fmt.Errorf("%w: appliance %s key %s: compromise time %s is after the revocation (%s)",
			ErrInvalid, a.ID, keyID, formatTime(compromisedAt), formatTime(now))
	}
	if reason == "" {
		reason = defaultRevokeReason
	}
	k := &a.Keys[i]
	if k.CompromisedAt != 0 && k.CompromisedAt <= compromisedAt {
		return a, nil // already revoked from then or earlier
	}
	if k.RevokedAt == 0 {
		k.RevokedAt = now
	}
	k.CompromisedAt, k.RevokeReason = compromisedAt, reason
	if err := putApplianceEvent(st, a, EventApplianceKeyRevoked); err != nil {
		return nil, err
	}
	return a, nil
}

func putApplianceEvent(st State, a *Appliance, event string) error {
	if err := putAppliance(st, a); err != nil {
		return err
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	return st.SetEvent(event, v)
}

// keyOfCredential names the key a recorded credential was signed with.
func keyOfCredential(a *Appliance, c *format.Credential) string {
	if c.KeyID != "" {
		return c.KeyID
	}
	if k, ok := a.KeyForHeight(c.Height); ok {
		return k.ID
	}
	return "(none)"
}

// UnixNano is t as a ledger time (Unix ns) for the rules, which take 0 as
// "no time": the zero time and times up to 1970 give 0 (refused as a
// compromise time), times past the Unix ns range the largest value (after
// any revocation), where time.Time.UnixNano is undefined.
func UnixNano(t time.Time) int64 {
	switch {
	case !t.After(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// formatTime renders a ledger time (Unix ns) for messages. 0 is a time
// the ledger did not record: a key registered before key history.
func formatTime(ns int64) string {
	if ns == 0 {
		return "before key history was recorded"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}
