package rules

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wotchain/wotchain/chaincode/format"
)

const keyAppliance = "appliance"

// Appliance is a registered appliance: its signing keys and the one client
// identity allowed to anchor its blocks.
type Appliance struct {
	ID string `json:"id"`
	// PublicKey is the current signing key (Ed25519), kept for clients
	// older than key history; Keys holds it too, as its last entry.
	PublicKey []byte `json:"publicKey"`
	AnchorMSP string `json:"anchorMsp"`
	AnchorID  string `json:"anchorId"`
	OwnerMSP  string `json:"ownerMsp"` // organisation that owns the appliance's data
	// Keys is every signing key the appliance has had, oldest first. Their
	// height ranges are disjoint and contiguous; the last one is open.
	Keys []ApplianceKey `json:"keys,omitempty"`
}

// ApplianceKey is one signing key of an appliance and its validity. A key
// signs the blocks of heights FromHeight up to, not including, ToHeight.
// Validity is by height, not time: the appliance seals its pending polls
// under the old key before it switches, so blocks still in its outbox stay
// anchorable, and no clock decides which key signs which block. The times
// are ledger transaction times (Unix ns), reported to users.
type ApplianceKey struct {
	ID            string `json:"id"`                 // format.KeyID(PublicKey)
	PublicKey     []byte `json:"publicKey"`          // Ed25519
	FromHeight    uint64 `json:"fromHeight"`         // first block height this key signs
	ToHeight      uint64 `json:"toHeight,omitempty"` // first height it no longer signs; 0 while current
	RegisteredAt  int64  `json:"registeredAt"`
	RotatedAt     int64  `json:"rotatedAt,omitempty"`
	RevokedAt     int64  `json:"revokedAt,omitempty"`
	CompromisedAt int64  `json:"compromisedAt,omitempty"`
	RevokeReason  string `json:"revokeReason,omitempty"`
	// Cut says the revocation ended the key's range at ToHeight: the first
	// height the appliance had not anchored when the key was revoked. A
	// cut key signs no more blocks, even while it is the current key; the
	// heights from ToHeight on pass to the key after it (RevokeApplianceKey).
	Cut bool `json:"cut,omitempty"`
}

// Open reports whether the key signs every height from FromHeight on: the
// current key, unless a revocation cut it.
func (k ApplianceKey) Open() bool {
	return k.ToHeight == 0 && k.RotatedAt == 0 && !k.Cut
}

// RevokedFor reports whether a block anchored at anchoredAt (Unix ns) under
// this key falls after the key's compromise, so the key cannot vouch for it.
func (k ApplianceKey) RevokedFor(anchoredAt int64) bool {
	return k.CompromisedAt != 0 && anchoredAt >= k.CompromisedAt
}

// Heights describes the key's height range, as "0..11", "12.." (open) or
// "none" (rotated out before it signed a block).
func (k ApplianceKey) Heights() string {
	switch {
	case k.Open():
		return fmt.Sprintf("%d..", k.FromHeight)
	case k.ToHeight <= k.FromHeight:
		return "none"
	}
	return fmt.Sprintf("%d..%d", k.FromHeight, k.ToHeight-1)
}

// Current is the appliance's current key: the last of its history.
func (a *Appliance) Current() ApplianceKey {
	if len(a.Keys) == 0 {
		return ApplianceKey{ID: format.KeyID(a.PublicKey), PublicKey: a.PublicKey}
	}
	return a.Keys[len(a.Keys)-1]
}

// Key returns the appliance's key with id.
func (a *Appliance) Key(id string) (ApplianceKey, bool) {
	for _, k := range a.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return ApplianceKey{}, false
}

// KeyForHeight returns the key that signs the appliance's block at height
// h: FromHeight <= h < ToHeight, or FromHeight <= h for the current key.
// Only the last key is open: an earlier one with ToHeight 0 was rotated
// out at height 0 and signs nothing. A current key cut by its revocation
// is not open either: no key signs the heights from its cut on until the
// next rotation.
func (a *Appliance) KeyForHeight(h uint64) (ApplianceKey, bool) {
	for i, k := range a.Keys {
		if k.FromHeight <= h && (h < k.ToHeight || (i == len(a.Keys)-1 && !k.Cut)) {
			return k, true
		}
	}
	return ApplianceKey{}, false
}

// RegisterAppliance records a new appliance with its first key, or updates
// the anchoring identity and owner of a registered one whose current key
// is a.PublicKey. A different key is refused: registering used to
// overwrite the key and orphan every earlier block; a new key goes through
// RotateApplianceKey. a.Keys is ignored: the ledger keeps the history.
// Only an admin of the manufacturer may do it; now is the transaction time.
func RegisterAppliance(st State, p Policy, caller Caller, a Appliance, now int64) error {
	if err := checkManufacturerAdmin(p, caller); err != nil {
		return err
	}
	switch {
	case a.ID == "":
		return fmt.Errorf("%w: empty appliance id", ErrInvalid)
	case len(a.PublicKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: appliance %s: public key of %d bytes, want %d", ErrInvalid, a.ID, len(a.PublicKey), ed25519.PublicKeySize)
	case a.AnchorMSP == "" || a.AnchorID == "":
		return fmt.Errorf("%w: appliance %s: no anchoring identity", ErrInvalid, a.ID)
	}
	if a.OwnerMSP == "" {
		a.OwnerMSP = caller.MSPID
	}
	old, err := GetAppliance(st, a.ID)
	switch {
	case err == nil:
		cur := old.Current()
		if !bytes.Equal(cur.PublicKey, a.PublicKey) {
			return fmt.Errorf("%w: appliance %s already has key %s (registered %s); a new key is registered with RotateApplianceKey",
				ErrConflict, a.ID, cur.ID, formatTime(cur.RegisteredAt))
		}
		a.Keys = old.Keys
	case errors.Is(err, ErrUnknownAppliance):
		a.Keys = []ApplianceKey{{ID: format.KeyID(a.PublicKey), PublicKey: a.PublicKey, RegisteredAt: now}}
	default:
		return err
	}
	return putAppliance(st, &a)
}

// GetAppliance returns a registered appliance. A record written before key
// history (a public key, no Keys) is read as one key valid from height 0.
func GetAppliance(st State, id string) (*Appliance, error) {
	key, err := CompositeKey(keyAppliance, id)
	if err != nil {
		return nil, err
	}
	v, err := st.GetState(key)
	if err != nil {
		return nil, fmt.Errorf("read appliance %s: %w", id, err)
	}
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAppliance, id)
	}
	var a Appliance
	if err := json.Unmarshal(v, &a); err != nil {
		return nil, fmt.Errorf("appliance %s: corrupt ledger record: %w", id, err)
	}
	if len(a.Keys) == 0 && len(a.PublicKey) == ed25519.PublicKeySize {
		a.Keys = []ApplianceKey{{ID: format.KeyID(a.PublicKey), PublicKey: a.PublicKey}}
	}
	if len(a.Keys) == 0 || !bytes.Equal(a.Current().PublicKey, a.PublicKey) {
		return nil, fmt.Errorf("appliance %s: corrupt ledger record: its public key is not the last of its key history", id)
	}
	return &a, nil
}

func putAppliance(st State, a *Appliance) error {
	key, err := CompositeKey(keyAppliance, a.ID)
	if err != nil {
		return err
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode appliance %s: %w", a.ID, err)
	}
	return st.PutState(key, v)
}

func checkManufacturerAdmin(p Policy, caller Caller) error {
	if caller.MSPID != p.ManufacturerMSP || !caller.Admin {
		return fmt.Errorf("%w: %s is not an admin of %s", ErrForbidden, caller, p.ManufacturerMSP)
	}
	return nil
}
