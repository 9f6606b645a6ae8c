package rules

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
)

const keyAppliance = "appliance"

// Appliance is a registered appliance: its signing key and the one client
// identity allowed to anchor its blocks.
type Appliance struct {
	ID        string `json:"id"`
	PublicKey []byte `json:"publicKey"` // Ed25519
	AnchorMSP string `json:"anchorMsp"`
	AnchorID  string `json:"anchorId"`
	OwnerMSP  string `json:"ownerMsp"` // organisation that owns the appliance's data
}

// RegisterAppliance records or updates (key rotation, new anchoring
// identity) an appliance. Only an admin of the manufacturer may do it.
func RegisterAppliance(st State, p Policy, caller Caller, a Appliance) error {
	if caller.MSPID != p.ManufacturerMSP || !caller.Admin {
		return fmt.Errorf("%w: %s is not an admin of %s", ErrForbidden, caller, p.ManufacturerMSP)
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
	key, err := CompositeKey(keyAppliance, a.ID)
	if err != nil {
		return err
	}
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return st.PutState(key, v)
}

// GetAppliance returns a registered appliance.
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
	return &a, nil
}
