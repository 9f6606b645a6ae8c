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
// through the history, never as a new entry. When a revocation cut the
// current key (RevokeApplianceKey), the new key starts at the cut, the
// first height the appliance had not anchored, whatever fromHeight says
// above it. Manufacturer admins only.
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
	if cur.Cut {
		// Its revocation ended the current key at the first height it had
		// not anchored, and no key signs from there: the new key takes
		// those heights, and the appliance re-seals its blocks from there
		// under it (they were sealed under the revoked key, which the
		// contract no longer accepts for them).
		fromHeight = cur.ToHeight
	} else {
		cur.ToHeight = fromHeight
	}
	cur.RotatedAt = now
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
// time proves they existed before. Revoking also cuts the key's range at
// the first height it did not anchor (cutRevokedKey), so the blocks it
// stranded can be re-sealed under the key after it. Revoking again can
// only move the compromise earlier; a later time leaves the record as it
// is. Manufacturer admins only; now is the transaction time.
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
	if err := cutRevokedKey(st, a, i); err != nil {
		return nil, err
	}
	if err := putApplianceEvent(st, a, EventApplianceKeyRevoked); err != nil {
		return nil, err
	}
	return a, nil
}

// cutRevokedKey ends the range of the revoked key a.Keys[i] at the first
// height of it the appliance has not anchored, when there is one: a revoked
// key signs no more blocks, and the blocks it sealed but did not anchor
// (the appliance's outbox) could never be anchored, which would stop the
// appliance's whole chain, since every block needs its predecessor on the
// ledger. The heights from the cut on pass to the current key (applyCut),
// or, when the revoked key is the current one, to the key the next
// rotation registers. A key whose whole range is anchored is not cut.
//
// Anchored heights are a prefix of the chain, so the cut is found by a
// search over the key's range (O(log n) reads); on Fabric those reads are
// in the transaction's read set, so a block anchored at the cut by a
// concurrent transaction makes one of the two fail validation.
func cutRevokedKey(st State, a *Appliance, i int) error {
	k := a.Keys[i]
	last := i == len(a.Keys)-1
	if k.Cut || (!last && k.ToHeight <= k.FromHeight) {
		return nil // cut already, or signs nothing
	}
	end := k.ToHeight
	if last {
		end = 0
	}
	u, err := firstUnanchored(k.FromHeight, end, func(h uint64) (bool, error) { return heightAnchored(st, a.ID, h) })
	if err != nil {
		return fmt.Errorf("appliance %s key %s: find its first unanchored height: %w", a.ID, k.ID, err)
	}
	if !last && u >= k.ToHeight {
		return nil // every block it signs is anchored: nothing stranded
	}
	applyCut(a, i, u)
	return nil
}

// applyCut cuts key i at height c: it signs below c only, and the heights
// from c on go to the current key. Keys in between (rotated out, each
// with a range above c, so none of them anchored a block: anchored
// heights are a prefix) keep an empty range at c; a current key that is
// itself cut keeps an empty one too.
func applyCut(a *Appliance, i int, c uint64) {
	a.Keys[i].ToHeight, a.Keys[i].Cut = c, true
	for j := i + 1; j < len(a.Keys); j++ {
		k := &a.Keys[j]
		k.FromHeight = c
		if j < len(a.Keys)-1 || k.Cut {
			k.ToHeight = c
		}
	}
}

// firstUnanchored returns the first height h >= from for which anchored(h)
// is false, below end (end 0: no bound; end itself when every height of
// from..end-1 is anchored). anchored must hold for a prefix of the heights
// only, as the chain rule makes it: a gallop finds an unanchored height
// when there is no bound, then a binary search the first one.
func firstUnanchored(from, end uint64, anchored func(uint64) (bool, error)) (uint64, error) {
	lo, hi := from, end // the answer lies in lo..hi
	if end == 0 {
		// Gallop: from, from+1, from+3, from+7, ... until one is not anchored.
		hi = from
		for step := uint64(1); ; step *= 2 {
			ok, err := anchored(hi)
			if err != nil {
				return 0, err
			}
			if !ok {
				break
			}
			if hi > math.MaxUint64/2 {
				return 0, fmt.Errorf("%w: heights anchored beyond %d", ErrInvalid, hi)
			}
			lo, hi = hi+1, hi+step
		}
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		ok, err := anchored(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// heightAnchored reports whether the appliance has a block on the ledger
// at height h (the height index only; the credential is not read).
func heightAnchored(st State, applianceID string, h uint64) (bool, error) {
	key, err := CompositeKey(keyHeight, applianceID, heightAttr(h))
	if err != nil {
		return false, err
	}
	v, err := st.GetState(key)
	if err != nil {
		return false, fmt.Errorf("read height %d of appliance %s: %w", h, applianceID, err)
	}
	return v != nil, nil
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
