package format

import (
	"fmt"
	"testing"
)

func TestSubmissionSize(t *testing.T) {
	s := Submission{Header: make([]byte, 100), HeaderSig: make([]byte, 64), ObjectHash: fmt.Sprintf("%064x", 1), Location: "fs:abc"}
	if got := SubmissionSize(s); got != 100+64+64+6 {
		t.Fatalf("SubmissionSize = %d", got)
	}
}

// TestCheckSummary: a credential derived from its header passes, and any
// summary field that disagrees with the signed header is refused.
func TestCheckSummary(t *testing.T) {
	hb, err := validHeader().Encode()
	if err != nil {
		t.Fatal(err)
	}
	sub := Submission{Header: hb, HeaderSig: make([]byte, 64), ObjectHash: fmt.Sprintf("%064x", 1), Location: "fs:abc"}
	if err := NewCredential(validHeader(), sub, "Org1MSP", "anchor").CheckSummary(); err != nil {
		t.Fatalf("derived credential refused: %v", err)
	}
	for name, modify := range map[string]func(c *Credential){
		"block id":      func(c *Credential) { c.BlockID = fmt.Sprintf("%064x", 2) },
		"height":        func(c *Credential) { c.Height++ },
		"previous":      func(c *Credential) { c.PrevBlockID = "" },
		"last seq":      func(c *Credential) { c.LastSeq++ },
		"devices":       func(c *Credential) { c.Devices = []string{"a"} },
		"merkle root":   func(c *Credential) { c.MerkleRoot = fmt.Sprintf("%064x", 3) },
		"header broken": func(c *Credential) { c.Header = c.Header[:len(c.Header)-1] },
	} {
		t.Run(name, func(t *testing.T) {
			c := NewCredential(validHeader(), sub, "Org1MSP", "anchor")
			modify(c)
			if c.CheckSummary() == nil {
				t.Fatal("CheckSummary accepted")
			}
		})
	}
}

// The contract's key id and anchoring time ride along with the summary
// fields; a malformed key id or a negative time is refused.
func TestCheckSummaryKeyFields(t *testing.T) {
	hb, err := validHeader().Encode()
	if err != nil {
		t.Fatal(err)
	}
	sub := Submission{Header: hb, HeaderSig: make([]byte, 64), ObjectHash: fmt.Sprintf("%064x", 1), Location: "fs:abc"}
	c := NewCredential(validHeader(), sub, "Org1MSP", "anchor")
	c.KeyID, c.AnchoredAt = "0123456789abcdef", 42
	if err := c.CheckSummary(); err != nil {
		t.Fatalf("credential with key id and anchoring time refused: %v", err)
	}
	for _, bad := range []func(c *Credential){
		func(c *Credential) { c.KeyID = "0123456789ABCDEF" },
		func(c *Credential) { c.KeyID = "0123" },
		func(c *Credential) { c.AnchoredAt = -1 },
	} {
		d := *c
		bad(&d)
		if d.CheckSummary() == nil {
			t.Errorf("CheckSummary accepted key id %q, anchored at %d", d.KeyID, d.AnchoredAt)
		}
	}
}

func TestKeyID(t *testing.T) {
	pub := make([]byte, 32) // SHA-256 of 32 zero bytes starts 66687aadf862bd77
	if got := KeyID(pub); got != "66687aadf862bd77" {
		t.Fatalf("KeyID = %s", got)
	}
	if err := CheckKeyID(KeyID(pub)); err != nil {
		t.Fatal(err)
	}
}
