package verify

import (
	"crypto/ed25519"

	"github.com/wotchain/wotchain/bridge/proof"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// The offline check of a bundle lives in bridge/proof, which links no store
// so that it compiles to WebAssembly; these names keep verify's API whole.

// ProofBundle is everything needed to check one reading offline (proof.Bundle).
type ProofBundle = proof.Bundle

// ProofError is a failed link of a proof bundle (proof.Error).
type ProofError = proof.Error

// BundleV2 is the version of a v2 block's bundle.
const BundleV2 = proof.BundleV2

// VerifyProof checks a bundle against the appliance's public key (proof.Verify).
func VerifyProof(b *ProofBundle, pub ed25519.PublicKey) (*reading.Reading, error) {
	return proof.Verify(b, pub)
}

// VerifyProofKey checks a bundle against a trusted key history entry (proof.VerifyKey).
func VerifyProofKey(b *ProofBundle, k rules.ApplianceKey) (*reading.Reading, error) {
	return proof.VerifyKey(b, k)
}

// VerifyProofHistory checks a bundle against the ledger's key history (proof.VerifyHistory).
func VerifyProofHistory(b *ProofBundle, app *rules.Appliance) (*reading.Reading, error) {
	return proof.VerifyHistory(b, app)
}

// KeyOf returns the key that signed the block at height (proof.KeyOf).
func KeyOf(app *rules.Appliance, keyID string, height uint64) (rules.ApplianceKey, error) {
	return proof.KeyOf(app, keyID, height)
}

// KeyValidity describes when a key was valid (proof.KeyValidity).
func KeyValidity(k rules.ApplianceKey) string { return proof.KeyValidity(k) }

// CheckSigningKey applies the revocation rule (proof.CheckSigningKey).
func CheckSigningKey(k rules.ApplianceKey, anchoredAt int64) (ok bool, detail string) {
	return proof.CheckSigningKey(k, anchoredAt)
}
