// Command verifywasm is the partner's offline verifier: built with
// GOOS=js GOARCH=wasm, it exposes one JavaScript function,
// wotchainVerify(bundleJSON, publicKey), that checks a proof bundle with
// bridge/proof (the appliance's own code) and returns a JSON report of
// each link. The page /verify loads it; nothing goes over the network.
// Built for any other platform, the command only says how to build it.
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/wotchain/wotchain/bridge/proof"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
)

// links are the offline checks of a bundle, in the order proof.Verify
// runs them; proof.Error names the one that broke.
var links = []struct{ name, what string }{
	{"reading", "the reading's canonical bytes, its decoded form and its place in the block"},
	{"poll signature", "the appliance's signature over the reading's poll"},
	{"merkle proof", "the reading's path to the block's Merkle root"},
	{"header signature", "the appliance's signature over the block header, and the block id"},
	{"signing key", "the key's heights and the revocation rule"},
}

// Link is one link of the report; Status is ok, failed or not checked.
type Link struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// Report is what the page shows.
type Report struct {
	OK      bool          `json:"ok"`
	Error   string        `json:"error,omitempty"` // the bundle or key could not be read
	Block   string        `json:"block,omitempty"`
	Reading *reading.JSON `json:"reading,omitempty"`
	Key     string        `json:"key,omitempty"` // which key was used, and where it came from
	Links   []Link        `json:"links"`
	// NotChecked is what an offline check cannot establish.
	NotChecked []string `json:"not_checked"`
}

// ledgerNote is said of every bundle: the credential lives on the ledger.
const ledgerNote = "The block's credential on the ledger (that block %s was anchored, by whom and when, with object %s) is checked on the ledger, not offline: run `wotchain verify` or ask the ledger."

// check verifies bundleJSON against keyText: an Ed25519 public key in hex
// or base64, or empty to use the key history entry the bundle carries.
func check(bundleJSON []byte, keyText string) Report {
	rep := Report{Links: []Link{}, NotChecked: []string{}}
	var b proof.Bundle
	if err := json.Unmarshal(bundleJSON, &b); err != nil {
		rep.Error = fmt.Sprintf("not a proof bundle: %v", err)
		return rep
	}
	if len(b.Header) == 0 || len(b.Reading) == 0 {
		rep.Error = "not a proof bundle: it has no header or no reading"
		return rep
	}
	rep.Block = fmt.Sprintf("block %d (%s) of appliance %s, reading %d", b.Height, b.BlockID, b.ApplianceID, b.Seq)
	rep.NotChecked = append(rep.NotChecked, fmt.Sprintf(ledgerNote, b.BlockID, b.ObjectHash))
	r, err := verifyWith(&rep, &b, strings.TrimSpace(keyText))
	if rep.Error != "" {
		return rep
	}
	failed := ""
	var pe *proof.Error
	if errors.As(err, &pe) {
		failed = pe.Check
	} else if err != nil {
		rep.Error = err.Error()
		return rep
	}
	broken := false
	for _, l := range links {
		switch {
		case broken:
			rep.Links = append(rep.Links, Link{l.name, "not checked", "an earlier link failed"})
		case l.name == failed:
			broken = true
			rep.Links = append(rep.Links, Link{l.name, "failed", pe.Err.Error()})
		default:
			rep.Links = append(rep.Links, Link{l.name, "ok", l.what})
		}
	}
	if err == nil {
		rep.OK = true
		j := r.JSON()
		rep.Reading = &j
	}
	return rep
}

// verifyWith picks the key and runs the check. A given key is checked
// against the bundle's entry when it carries one, so the revocation rule
// still applies; the bundle's own entry alone is used as it is, and the
// report says that its id must be compared with the appliance's.
func verifyWith(rep *Report, b *proof.Bundle, keyText string) (*reading.Reading, error) {
	if keyText == "" {
		if b.SigningKey == nil {
			rep.Error = "this bundle carries no signing key (made before key history or without the ledger): give the appliance's public key"
			return nil, nil
		}
		rep.Key = fmt.Sprintf("key %s carried by the bundle (%s)", b.SigningKey.ID, proof.KeyValidity(*b.SigningKey))
		rep.NotChecked = append(rep.NotChecked, fmt.Sprintf("That key %s is the appliance's: the bundle names it itself. Compare its id with the one the appliance's owner or the ledger gives you, or paste the public key.", b.SigningKey.ID))
		return proof.VerifyKey(b, *b.SigningKey)
	}
	pub, err := parseKey(keyText)
	if err != nil {
		rep.Error = err.Error()
		return nil, nil
	}
	id := format.KeyID(pub)
	if b.SigningKey == nil {
		rep.Key = fmt.Sprintf("key %s that you gave", id)
		rep.NotChecked = append(rep.NotChecked, "The key's history (heights, rotation, revocation): the bundle carries none, so only the signatures were checked against the key you gave.")
		return proof.Verify(b, pub)
	}
	rep.Key = fmt.Sprintf("key %s that you gave, with the bundle's history entry (%s)", id, proof.KeyValidity(*b.SigningKey))
	if !ed25519.PublicKey(b.SigningKey.PublicKey).Equal(pub) {
		return nil, &proof.Error{Check: "signing key", Err: fmt.Errorf("the bundle's block is signed by key %s, not by the key you gave (%s)", b.SigningKey.ID, id)}
	}
	rep.NotChecked = append(rep.NotChecked, "The key's history entry (rotation, revocation) is the bundle's; a revocation recorded on the ledger after the bundle was made shows only there.")
	return proof.VerifyKey(b, *b.SigningKey)
}

// parseKey reads an Ed25519 public key in hex or standard base64.
func parseKey(s string) (ed25519.PublicKey, error) {
	if k, err := hex.DecodeString(s); err == nil && len(k) == ed25519.PublicKeySize {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == ed25519.PublicKeySize {
		return k, nil
	}
	return nil, fmt.Errorf("the public key %q is neither %d bytes of hex nor of base64", s, ed25519.PublicKeySize)
}

// reportJSON encodes a report for the page.
func reportJSON(r Report) string {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprintf(`{"ok":false,"error":%q,"links":[],"not_checked":[]}`, err.Error())
	}
	return string(b)
}
