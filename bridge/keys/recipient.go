package keys

import (
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// HPKE recipient keys are stored as PEM with the KEM identifier (RFC 9180
// registry) in a header, so post-quantum hybrid KEMs fit the same format.
const (
	pemRecipientPrivate = "HPKE PRIVATE KEY"
	pemRecipientPublic  = "HPKE PUBLIC KEY"
	kemHeader           = "KEM"
)

// KEM identifiers the appliance accepts (RFC 9180 and draft-ietf-hpke-pq).
const (
	KEMX25519         uint16 = 0x0020 // DHKEM(X25519, HKDF-SHA256)
	KEMMLKEM768X25519 uint16 = 0x647a // hybrid ML-KEM-768 + X25519
)

// KEMByName maps config names to KEM identifiers.
func KEMByName(name string) (uint16, error) {
	switch name {
	case "", "x25519":
		return KEMX25519, nil
	case "mlkem768-x25519":
		return KEMMLKEM768X25519, nil
	}
	return 0, fmt.Errorf("unknown KEM %q (want x25519 or mlkem768-x25519)", name)
}

// KeyID names a recipient public key: the first 16 bytes of SHA-256 over the
// KEM id and the key, hex. It is what block envelopes list per recipient.
func KeyID(pub hpke.PublicKey) string {
	h := sha256.New()
	h.Write([]byte{byte(pub.KEM().ID() >> 8), byte(pub.KEM().ID())})
	h.Write(pub.Bytes())
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func kemFromHeader(path string, block *pem.Block) (hpke.KEM, error) {
	v, ok := block.Headers[kemHeader]
	if !ok {
		return nil, fmt.Errorf("key file %s: missing %s header", path, kemHeader)
	}
	id, err := strconv.ParseUint(v, 0, 16)
	if err != nil {
		return nil, fmt.Errorf("key file %s: bad %s header %q", path, kemHeader, v)
	}
	kem, err := hpke.NewKEM(uint16(id))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return kem, nil
}

func encodeRecipientPublic(pub hpke.PublicKey) []byte {
	return pem.EncodeToMemory(&pem.Block{
		Type:    pemRecipientPublic,
		Headers: map[string]string{kemHeader: fmt.Sprintf("0x%04x", pub.KEM().ID())},
		Bytes:   pub.Bytes(),
	})
}

// GenerateRecipient writes a new HPKE private key at path (0600) and its public
// key at path+".pub", refusing to overwrite either.
func GenerateRecipient(path string, kemID uint16) (hpke.PrivateKey, error) {
	kem, err := hpke.NewKEM(kemID)
	if err != nil {
		return nil, err
	}
	priv, err := kem.GenerateKey()
	if err != nil {
		return nil, err
	}
	raw, err := priv.Bytes()
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{
		Type:    pemRecipientPrivate,
		Headers: map[string]string{kemHeader: fmt.Sprintf("0x%04x", kemID)},
		Bytes:   raw,
	})
	// Refuse before writing anything, so a refusal leaves no half pair.
	if _, err := os.Stat(path + ".pub"); err == nil {
		return nil, fmt.Errorf("write key %s: public key %s.pub already exists", path, path)
	}
	if err := writePrivateFile(path, data); err != nil {
		return nil, err
	}
	if err := writePublicFile(path+".pub", encodeRecipientPublic(priv.PublicKey())); err != nil {
		return nil, err
	}
	return priv, nil
}

// LoadRecipient reads an HPKE private key.
func LoadRecipient(path string) (hpke.PrivateKey, error) {
	block, err := readPEM(path, pemRecipientPrivate, true)
	if err != nil {
		return nil, err
	}
	kem, err := kemFromHeader(path, block)
	if err != nil {
		return nil, err
	}
	priv, err := kem.NewPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return priv, nil
}

// LoadOrGenerateRecipient loads the key, creating it (with kemID) on first start.
func LoadOrGenerateRecipient(path string, kemID uint16) (priv hpke.PrivateKey, created bool, err error) {
	priv, err = LoadRecipient(path)
	if errors.Is(err, fs.ErrNotExist) {
		priv, err = GenerateRecipient(path, kemID)
		return priv, err == nil, err
	}
	return priv, false, err
}

// LoadRecipientPublic reads an HPKE public key file (as written next to the private key).
func LoadRecipientPublic(path string) (hpke.PublicKey, error) {
	block, err := readPEM(path, pemRecipientPublic, false)
	if err != nil {
		return nil, err
	}
	kem, err := kemFromHeader(path, block)
	if err != nil {
		return nil, err
	}
	pub, err := kem.NewPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return pub, nil
}

// EncodeRecipientPublic returns the PEM form of an HPKE public key.
func EncodeRecipientPublic(pub hpke.PublicKey) []byte { return encodeRecipientPublic(pub) }
