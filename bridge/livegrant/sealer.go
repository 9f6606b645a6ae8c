package livegrant

import (
	"crypto/hpke"
	"fmt"
	"sync"
	"time"

	"github.com/wotchain/wotchain/chaincode/rules"
)

// KeyStore keeps the epoch keys drawn, so that a restarted appliance seals
// the rest of an epoch, and its catch-up, under the key already delivered.
type KeyStore interface {
	EpochKey(grant string, epoch uint64) ([]byte, bool, error)
	PutEpochKey(grant string, epoch uint64, key []byte) error
}

// Sealer seals the readings one grant covers. It is used by one goroutine.
type Sealer struct {
	g      *rules.Grant
	pub    hpke.PublicKey
	period time.Duration
	keys   KeyStore
	cur    *EpochKey
}

// NewSealer returns the sealer of grant g, rotating keys every period.
func NewSealer(g *rules.Grant, period time.Duration, ks KeyStore) (*Sealer, error) {
	kem, err := hpke.NewKEM(g.PartnerKEM)
	if err != nil {
		return nil, fmt.Errorf("grant %s: %w", g.ID, err)
	}
	pub, err := kem.NewPublicKey(g.PartnerKey)
	if err != nil {
		return nil, fmt.Errorf("grant %s: partner key: %w", g.ID, err)
	}
	return &Sealer{g: g, pub: pub, period: period, keys: ks}, nil
}

// Revoke applies a revocation learnt while streaming: readings taken from
// at on are no longer sealed, and the key in use is dropped at once, so
// even a reading of the same epoch taken later would need a fresh key the
// partner is never sent.
func (s *Sealer) Revoke(at int64) {
	if s.g.RevokedAt == 0 || at < s.g.RevokedAt {
		g := *s.g
		g.RevokedAt = at
		s.g = &g
	}
	s.cur = nil
}

// Key returns the epoch key for a reading taken at t, and the key message
// to publish (retained) when the key is one the sealer has not used yet.
func (s *Sealer) Key(t int64) (*EpochKey, *KeyMessage, error) {
	e := EpochOf(t, s.period)
	if s.cur != nil && s.cur.Epoch == e {
		return s.cur, nil, nil
	}
	k, ok, err := s.keys.EpochKey(s.g.ID, e)
	if err != nil {
		return nil, nil, fmt.Errorf("grant %s epoch %d: %w", s.g.ID, e, err)
	}
	ek := &EpochKey{Grant: s.g.ID, Epoch: e, Key: k}
	if !ok {
		if ek, err = NewEpochKey(s.g.ID, e); err != nil {
			return nil, nil, err
		}
		if err := s.keys.PutEpochKey(s.g.ID, e, ek.Key); err != nil {
			return nil, nil, fmt.Errorf("grant %s epoch %d: %w", s.g.ID, e, err)
		}
	}
	km, err := Wrap(ek, s.pub)
	if err != nil {
		return nil, nil, err
	}
	s.cur = ek
	return ek, km, nil
}

// Seal seals the payload JSON of reading seq of device taken at t, or
// returns ErrNotGranted when the grant does not cover it. km is non-nil
// when a new epoch key must be published before the message.
func (s *Sealer) Seal(seq uint64, device string, t int64, plaintext []byte) (msg *Sealed, km *KeyMessage, err error) {
	if !Covers(s.g, device, t) {
		return nil, nil, ErrNotGranted
	}
	ek, km, err := s.Key(t)
	if err != nil {
		return nil, nil, err
	}
	msg, err = Seal(ek, seq, plaintext)
	return msg, km, err
}

// MemKeys is a KeyStore in memory, safe for concurrent use (tests, and
// appliances that draw new keys after a restart: a partner keeps every key
// of an epoch it is sent).
type MemKeys struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemKeys returns an empty MemKeys.
func NewMemKeys() *MemKeys { return &MemKeys{m: map[string][]byte{}} }

func memKey(grant string, epoch uint64) string { return fmt.Sprintf("%s/%d", grant, epoch) }

// EpochKey implements KeyStore.
func (m *MemKeys) EpochKey(grant string, epoch uint64) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.m[memKey(grant, epoch)]
	return k, ok, nil
}

// PutEpochKey implements KeyStore.
func (m *MemKeys) PutEpochKey(grant string, epoch uint64, key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[memKey(grant, epoch)] = key
	return nil
}

// Covers reports whether the sealer's grant, as revoked so far, covers a
// reading of device taken at t.
func (s *Sealer) Covers(device string, t int64) bool { return Covers(s.g, device, t) }
