package format

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// KeyIDLen is the length of a key id: 8 bytes of SHA-256, in hex.
const KeyIDLen = 16

// KeyID names an appliance signing key everywhere (ledger, credential, CLI,
// key files): the hex of the first 8 bytes of SHA-256 of the raw 32-byte
// public key. 64 bits tell an appliance's few keys apart; the key itself,
// not its id, is what every signature is checked with.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:KeyIDLen/2])
}

// CheckKeyID refuses a string that is not a key id as KeyID writes it.
func CheckKeyID(id string) error {
	if len(id) != KeyIDLen {
		return fmt.Errorf("key id %q: %d characters, want %d", id, len(id), KeyIDLen)
	}
	for _, r := range id {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return fmt.Errorf("key id %q: not lower-case hex", id)
		}
	}
	return nil
}
