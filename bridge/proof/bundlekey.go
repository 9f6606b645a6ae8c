package proof

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// AttachKey puts into b the history entry of the key that signed its block
// and the block's anchoring time, from the block's credential and the
// appliance's record on the ledger, so the bundle can be checked offline
// after the appliance's key has changed.
func (b *Bundle) AttachKey(cred *format.Credential, app *rules.Appliance) error {
	if cred.BlockID != b.BlockID || cred.ApplianceID != app.ID {
		return fmt.Errorf("proof of block %s: credential of block %s, appliance record of %s", b.BlockID, cred.BlockID, app.ID)
	}
	k, err := KeyOf(app, cred.KeyID, cred.Height)
	if err != nil {
		return fmt.Errorf("proof of block %s: %w", b.BlockID, err)
	}
	b.SigningKey, b.AnchoredAt = &k, cred.AnchoredAt
	return nil
}

// VerifyKey checks a bundle against the history entry k of the key
// that signed it, which the verifier trusts (from the ledger, or the
// bundle's own after checking its id with the appliance's owner): k must
// sign the bundle's height and be the key the bundle names, the bundle must
// verify with it (Verify), and the revocation rule must pass for the
// bundle's anchoring time. A failure is a *Error; a revoked key fails
// the "signing key" link.
func VerifyKey(b *Bundle, k rules.ApplianceKey) (*reading.Reading, error) {
	if b.SigningKey != nil && b.SigningKey.ID != k.ID {
		return nil, proofErr("signing key", "the bundle names key %s, checked against key %s", b.SigningKey.ID, k.ID)
	}
	if !covers(k, b.Height) {
		return nil, proofErr("signing key", "key %s signs heights %s, not block %d", k.ID, k.Heights(), b.Height)
	}
	r, err := Verify(b, ed25519.PublicKey(k.PublicKey))
	if err != nil {
		return nil, err
	}
	if ok, detail := CheckSigningKey(k, b.AnchoredAt); !ok {
		return nil, proofErr("signing key", "%s", detail)
	}
	return r, nil
}

// VerifyHistory checks a bundle against the appliance's key history
// as the ledger holds it (rules.Appliance): the key of the bundle's height,
// which must be the key the bundle names and carry the same public key,
// and then VerifyKey with the ledger's entry (so a revocation recorded
// after the bundle was made counts). Bundles made before key history name
// no key and are checked with the key of their height.
func VerifyHistory(b *Bundle, app *rules.Appliance) (*reading.Reading, error) {
	if app.ID != b.ApplianceID {
		return nil, proofErr("signing key", "the key history is of appliance %q, the bundle of %q", app.ID, b.ApplianceID)
	}
	var named string
	if b.SigningKey != nil {
		named = b.SigningKey.ID
	}
	k, err := KeyOf(app, named, b.Height)
	if err != nil {
		return nil, &Error{Check: "signing key", Err: err}
	}
	if b.SigningKey != nil && !bytes.Equal(b.SigningKey.PublicKey, k.PublicKey) {
		return nil, proofErr("signing key", "the bundle's key %s is not the ledger's key of that id", named)
	}
	return VerifyKey(b, k)
}
