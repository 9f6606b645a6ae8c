// Package envelope encrypts a sealed block for storage: a fresh random
// AES-256-GCM data key per block, the plaintext cut into chunks each sealed
// with its index and a final-chunk flag (so truncation and reordering are
// detected), and the data key wrapped with HPKE (RFC 9180) for every
// recipient. The header and its signature stay in clear so anyone holding
// the object can check it against the ledger without a key.
package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/chaincode/format"
)

// Format names the object format; readers refuse anything else.
const Format = "wotchain-block/1"

// DefaultChunkSize bounds the memory a reader needs per chunk.
const DefaultChunkSize = 64 << 10

// The HPKE KDF and AEAD used to wrap data keys; the KEM is per recipient.
const (
	kdfID  = 0x0001 // HKDF-SHA256
	aeadID = 0x0002 // AES-256-GCM
)

// Recipient is one wrapped copy of the block's data key.
type Recipient struct {
	KeyID   string `cbor:"1,keyasint"` // keys.KeyID of the recipient's public key
	KEM     uint16 `cbor:"2,keyasint"`
	Wrapped []byte `cbor:"3,keyasint"` // HPKE enc || ciphertext of the data key
}

// Object is the stored form of a block.
type Object struct {
	Format     string      `cbor:"1,keyasint"`
	Header     []byte      `cbor:"2,keyasint"`
	HeaderSig  []byte      `cbor:"3,keyasint"`
	KDF        uint16      `cbor:"4,keyasint"`
	AEAD       uint16      `cbor:"5,keyasint"`
	Recipients []Recipient `cbor:"6,keyasint"`
	ChunkSize  uint32      `cbor:"7,keyasint"`
	Chunks     [][]byte    `cbor:"8,keyasint"`
}

// Hash returns the hex SHA-256 of object bytes: the object's name in storage
// and the hash the ledger anchors.
func Hash(object []byte) string {
	sum := sha256.Sum256(object)
	return hex.EncodeToString(sum[:])
}

// HPKE info strings: the wrapped plaintext is bound to one block's header,
// and to the object version, so a v1 data key and a v2 key set are never
// taken for one another.
const (
	wrapDomainV1 = "wotchain/block-key/v1\x00"
	wrapDomainV2 = "wotchain/block-keys/v2\x00"
)

func wrapInfo(domain string, header []byte) []byte {
	sum := sha256.Sum256(header)
	return append([]byte(domain), sum[:]...)
}

func chunkAAD(header []byte, index uint64, last bool) []byte {
	sum := sha256.Sum256(header)
	aad := append([]byte("wotchain/block-chunk/v1\x00"), sum[:]...)
	aad = binary.BigEndian.AppendUint64(aad, index)
	if last {
		return append(aad, 1)
	}
	return append(aad, 0)
}

func chunkNonce(index uint64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], index)
	return n
}

// Seal encrypts body for the recipients and returns the object bytes.
func Seal(header, headerSig, body []byte, recipients []hpke.PublicKey) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("envelope: no recipients: nobody could ever read the block")
	}
	dataKey := make([]byte, 32)
	_, err := rand.Read(dataKey)
	if err != nil {
		return nil, err
	}
	obj := Object{Format: Format, Header: header, HeaderSig: headerSig, KDF: kdfID, AEAD: aeadID, ChunkSize: DefaultChunkSize}
	if obj.Recipients, err = wrapAll(wrapInfo(wrapDomainV1, header), dataKey, recipients); err != nil {
		return nil, err
	}
	gcm, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		end := min(len(body), (i+1)*DefaultChunkSize)
		chunk := body[i*DefaultChunkSize : end]
		last := end == len(body)
		obj.Chunks = append(obj.Chunks, gcm.Seal(nil, chunkNonce(uint64(i)), chunk, chunkAAD(header, uint64(i), last)))
		if last {
			break
		}
	}
	return format.Marshal(&obj)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Parse decodes object bytes without decrypting: header, signature and recipients.
func Parse(object []byte) (*Object, error) {
	var obj Object
	if err := format.Unmarshal(object, &obj); err != nil {
		return nil, fmt.Errorf("block object: %w", err)
	}
	if obj.Format != Format {
		return nil, fmt.Errorf("block object: format %q, want %q", obj.Format, Format)
	}
	if obj.KDF != kdfID || obj.AEAD != aeadID {
		return nil, fmt.Errorf("block object: unsupported HPKE suite kdf=%#04x aead=%#04x", obj.KDF, obj.AEAD)
	}
	if len(obj.Chunks) == 0 {
		return nil, errors.New("block object: no ciphertext chunks")
	}
	return &obj, nil
}

// ErrNotRecipient means the key is not among the object's recipients.
var ErrNotRecipient = errors.New("envelope: this key is not a recipient of the block")

// Open decrypts the object with a recipient's private key and returns the body.
func (obj *Object) Open(priv hpke.PrivateKey) ([]byte, error) {
	dataKey, err := obj.DataKey(priv)
	if err != nil {
		return nil, err
	}
	return obj.Decrypt(dataKey)
}

// DataKey unwraps the block's data key with a recipient's private key.
func (obj *Object) DataKey(priv hpke.PrivateKey) ([]byte, error) {
	rec, err := findRecipient(obj.Recipients, priv)
	if err != nil {
		return nil, err
	}
	return unwrap(obj.Header, rec, priv)
}

// findRecipient is the entry wrapped for priv's public key (by key id).
func findRecipient(recipients []Recipient, priv hpke.PrivateKey) (*Recipient, error) {
	kid := keys.KeyID(priv.PublicKey())
	for i := range recipients {
		if recipients[i].KeyID == kid {
			return &recipients[i], nil
		}
	}
	return nil, fmt.Errorf("%w (key id %s)", ErrNotRecipient, kid)
}

// wrapAll wraps plaintext once per distinct recipient key, in the given order.
func wrapAll(info, plaintext []byte, recipients []hpke.PublicKey) ([]Recipient, error) {
	var out []Recipient
	seen := map[string]bool{}
	for _, pub := range recipients {
		kid := keys.KeyID(pub)
		if seen[kid] {
			continue
		}
		seen[kid] = true
		rec, err := wrap(info, plaintext, pub)
		if err != nil {
			return nil, fmt.Errorf("%w (recipient %s)", err, kid)
		}
		out = append(out, rec)
	}
	return out, nil
}

// wrap and unwrapWith are the one HPKE code path of both object versions;
// only the info string (and what the plaintext means) differ.
func wrap(info, plaintext []byte, pub hpke.PublicKey) (Recipient, error) {
	wrapped, err := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.AES256GCM(), info, plaintext)
	if err != nil {
		return Recipient{}, fmt.Errorf("envelope: wrap block key: %w", err)
	}
	return Recipient{KeyID: keys.KeyID(pub), KEM: pub.KEM().ID(), Wrapped: wrapped}, nil
}

func unwrapWith(info []byte, rec *Recipient, priv hpke.PrivateKey) ([]byte, error) {
	plain, err := hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES256GCM(), info, rec.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("envelope: unwrap block key for %s: %w", rec.KeyID, err)
	}
	return plain, nil
}

func unwrap(header []byte, rec *Recipient, priv hpke.PrivateKey) ([]byte, error) {
	dataKey, err := unwrapWith(wrapInfo(wrapDomainV1, header), rec, priv)
	if err != nil {
		return nil, err
	}
	if len(dataKey) != 32 {
		return nil, fmt.Errorf("envelope: data key for %s has %d bytes", rec.KeyID, len(dataKey))
	}
	return dataKey, nil
}

// Decrypt decrypts the chunks with the block's data key.
func (obj *Object) Decrypt(dataKey []byte) ([]byte, error) {
	gcm, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	for i, c := range obj.Chunks {
		last := i == len(obj.Chunks)-1
		plain, err := gcm.Open(nil, chunkNonce(uint64(i)), c, chunkAAD(obj.Header, uint64(i), last))
		if err != nil {
			return nil, fmt.Errorf("envelope: chunk %d of %d fails authentication (corrupted, truncated or reordered)", i, len(obj.Chunks))
		}
		body.Write(plain)
	}
	return body.Bytes(), nil
}

// Wrap wraps a block's data key for one more recipient, bound to the
// block's header exactly as the recipients inside the object are.
func Wrap(header, dataKey []byte, pub hpke.PublicKey) (Recipient, error) {
	return wrap(wrapInfo(wrapDomainV1, header), dataKey, pub)
}
