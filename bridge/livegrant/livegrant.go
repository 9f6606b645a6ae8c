// Package livegrant is the cryptography and the licensing decision of the
// per-grant live streams: which readings a grant covers (the licensor's
// rule, license.Licensed, applied to one reading), the grant's epoch keys
// (random per grant and epoch, wrapped with HPKE for the partner's key) and
// the AES-GCM sealing of each reading's payload under them. It does no I/O:
// the publisher moves what it makes, the partner's subscriber opens it.
package livegrant

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/license"
	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// KeySize is the size of an epoch key (AES-256).
const KeySize = 32

// ErrNotGranted is returned when a reading is outside a grant: another
// device, outside its window, or taken at or after its revocation.
var ErrNotGranted = errors.New("livegrant: reading not granted")

// Covers reports whether grant g licenses a reading of device taken at
// appliance time t (Unix ns). It is license.Licensed for a poll of one
// reading whose "seal time" is the time it was taken: a live reading is
// published when taken, so a revoked grant covers nothing taken at or
// after the revocation.
func Covers(g *rules.Grant, device string, t int64) bool {
	return len(license.Licensed(g, []license.Poll{{Device: device, Time: t}}, t)) == 1
}

// EpochOf is the epoch of appliance time t under a rotation period.
func EpochOf(t int64, period time.Duration) uint64 {
	if period <= 0 || t < 0 {
		return 0
	}
	return uint64(t / int64(period))
}

// EpochKey is one grant's key for one epoch.
type EpochKey struct {
	Grant string
	Epoch uint64
	Key   []byte
}

// NewEpochKey draws a random key for the grant and epoch.
func NewEpochKey(grant string, epoch uint64) (*EpochKey, error) {
	k := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, k); err != nil {
		return nil, fmt.Errorf("livegrant: epoch key: %w", err)
	}
	return &EpochKey{Grant: grant, Epoch: epoch, Key: k}, nil
}

// KeyMessage is an epoch key wrapped for the grant's partner: the retained
// payload of topic wotchain/{appliance}/grant/{grant}/keys/{epoch}.
type KeyMessage struct {
	Grant   string `json:"grant"`
	Epoch   uint64 `json:"epoch"`
	KEM     uint16 `json:"kem"`
	KeyID   string `json:"key_id"` // the partner key it is wrapped for (keys.KeyID)
	Wrapped []byte `json:"wrapped"`
}

// wrapInfo binds a wrapped key to its grant and epoch, so a key can never
// be replayed as another grant's or another epoch's.
func wrapInfo(grant string, epoch uint64) []byte {
	return fmt.Appendf(nil, "wotchain/live/v1/key\x00%s\x00%d", grant, epoch)
}

// Wrap wraps ek for the partner key pub (HPKE, as block deliveries).
func Wrap(ek *EpochKey, pub hpke.PublicKey) (*KeyMessage, error) {
	w, err := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.AES256GCM(), wrapInfo(ek.Grant, ek.Epoch), ek.Key)
	if err != nil {
		return nil, fmt.Errorf("livegrant: wrap key of grant %s epoch %d: %w", ek.Grant, ek.Epoch, err)
	}
	return &KeyMessage{Grant: ek.Grant, Epoch: ek.Epoch, KEM: pub.KEM().ID(), KeyID: keys.KeyID(pub), Wrapped: w}, nil
}

// Unwrap opens a key message with the partner's private key.
func (m *KeyMessage) Unwrap(priv hpke.PrivateKey) (*EpochKey, error) {
	k, err := hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES256GCM(), wrapInfo(m.Grant, m.Epoch), m.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("livegrant: unwrap key of grant %s epoch %d: %w", m.Grant, m.Epoch, err)
	}
	if len(k) != KeySize {
		return nil, fmt.Errorf("livegrant: key of grant %s epoch %d has %d bytes", m.Grant, m.Epoch, len(k))
	}
	return &EpochKey{Grant: m.Grant, Epoch: m.Epoch, Key: k}, nil
}

// Payload is what a live message carries, encrypted: the plain publisher's
// message (canonical bytes, salt, salted leaf) and what proves it at once,
// the signed poll record and the reading's path in the poll's tree.
type Payload struct {
	publish.Message
	Poll     []byte   `json:"poll"`      // reading.EncodePoll of the signed v2 poll record
	PollPath [][]byte `json:"poll_path"` // the salted leaf's path to the record's poll root
}

// Verify checks the payload against the appliance's public key: the message
// is self-consistent, the poll record is signed by pub, and the reading's
// salted leaf is in the signed poll root at its place.
func (p *Payload) Verify(pub ed25519.PublicKey) error {
	if err := p.Message.Verify(); err != nil {
		return err
	}
	rec, err := reading.DecodePoll(p.Poll)
	if err != nil {
		return fmt.Errorf("reading %d: poll record: %w", p.Seq, err)
	}
	if rec.Version() != reading.PollV2 {
		return fmt.Errorf("reading %d: live messages carry v2 polls only", p.Seq)
	}
	if p.Seq < rec.FirstSeq || p.Seq > rec.LastSeq || rec.DeviceID != p.Device || rec.ApplianceID != p.Appliance {
		return fmt.Errorf("reading %d of %q: not in poll %d..%d of %q", p.Seq, p.Device, rec.FirstSeq, rec.LastSeq, rec.DeviceID)
	}
	if err := rec.VerifySignature(pub); err != nil {
		return fmt.Errorf("reading %d: %w", p.Seq, err)
	}
	leaf, err := hex.DecodeString(p.LeafHash)
	if err != nil {
		return fmt.Errorf("reading %d: leaf hash: %w", p.Seq, err)
	}
	if err := merkle.Verify(p.Seq-rec.FirstSeq, rec.LastSeq-rec.FirstSeq+1, leaf, p.PollPath, rec.PollRoot); err != nil {
		return fmt.Errorf("reading %d: not in its signed poll: %w", p.Seq, err)
	}
	return nil
}

// Sealed is one live message: a payload encrypted under a grant's epoch key.
// Grant, Epoch and Seq are the associated data, so a message cannot be moved
// to another grant, epoch or position.
type Sealed struct {
	Grant      string `json:"grant"`
	Epoch      uint64 `json:"epoch"`
	Seq        uint64 `json:"seq"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

func ad(grant string, epoch, seq uint64) []byte {
	b := fmt.Appendf(nil, "wotchain/live/v1/msg\x00%s\x00", grant)
	b = binary.BigEndian.AppendUint64(b, epoch)
	return binary.BigEndian.AppendUint64(b, seq)
}

func aead(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// Seal encrypts plaintext (a Payload's JSON) as reading seq under ek.
func Seal(ek *EpochKey, seq uint64, plaintext []byte) (*Sealed, error) {
	a, err := aead(ek.Key)
	if err != nil {
		return nil, fmt.Errorf("livegrant: grant %s epoch %d: %w", ek.Grant, ek.Epoch, err)
	}
	nonce := make([]byte, a.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("livegrant: nonce: %w", err)
	}
	return &Sealed{Grant: ek.Grant, Epoch: ek.Epoch, Seq: seq, Nonce: nonce,
		Ciphertext: a.Seal(nil, nonce, plaintext, ad(ek.Grant, ek.Epoch, seq))}, nil
}

// Open decrypts a sealed message with the key of its grant and epoch.
func Open(ek *EpochKey, s *Sealed) ([]byte, error) {
	if ek.Grant != s.Grant || ek.Epoch != s.Epoch {
		return nil, fmt.Errorf("livegrant: message of grant %s epoch %d, key of grant %s epoch %d", s.Grant, s.Epoch, ek.Grant, ek.Epoch)
	}
	a, err := aead(ek.Key)
	if err != nil {
		return nil, err
	}
	if len(s.Nonce) != a.NonceSize() {
		return nil, fmt.Errorf("livegrant: message %d: nonce of %d bytes", s.Seq, len(s.Nonce))
	}
	p, err := a.Open(nil, s.Nonce, s.Ciphertext, ad(s.Grant, s.Epoch, s.Seq))
	if err != nil {
		return nil, fmt.Errorf("livegrant: message %d of grant %s epoch %d: %w", s.Seq, s.Grant, s.Epoch, err)
	}
	return p, nil
}

// NewPayload builds the payload of reading j of a v2 poll from the poll's
// signed record, its readings' canonical bytes and their salts, in seq
// order.
func NewPayload(rec *reading.PollRecord, encoded [][]byte, salts [][reading.SaltSize]byte, j int) (*Payload, error) {
	if len(encoded) != len(salts) || j < 0 || j >= len(encoded) {
		return nil, fmt.Errorf("livegrant: reading %d of a poll of %d readings and %d salts", j, len(encoded), len(salts))
	}
	leaves := make([][]byte, len(encoded))
	for i, e := range encoded {
		leaves[i] = reading.SaltedLeafHash(salts[i], e)
	}
	tree, err := merkle.New(leaves)
	if err != nil {
		return nil, fmt.Errorf("livegrant: poll tree: %w", err)
	}
	path, err := tree.Proof(uint64(j))
	if err != nil {
		return nil, fmt.Errorf("livegrant: path of reading %d: %w", j, err)
	}
	m, err := publish.NewSaltedMessage(encoded[j], salts[j])
	if err != nil {
		return nil, fmt.Errorf("livegrant: reading %d: %w", j, err)
	}
	pollBytes, err := reading.EncodePoll(rec)
	if err != nil {
		return nil, fmt.Errorf("livegrant: poll record: %w", err)
	}
	return &Payload{Message: *m, Poll: pollBytes, PollPath: path}, nil
}
