package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// BlockState is where a sealed block is on its way to the ledger.
type BlockState uint8

const (
	Sealed   BlockState = iota // encrypted and stored locally
	Uploaded                   // object verified in storage
	Anchored                   // credential recorded on the ledger
)

func (s BlockState) String() string {
	switch s {
	case Sealed:
		return "sealed"
	case Uploaded:
		return "uploaded"
	case Anchored:
		return "anchored"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// BlockRecord is the appliance's own record of a sealed block.
type BlockRecord struct {
	Height     uint64     `cbor:"1,keyasint"`
	BlockID    string     `cbor:"2,keyasint"`
	Header     []byte     `cbor:"3,keyasint"` // canonical header bytes
	HeaderSig  []byte     `cbor:"4,keyasint"`
	FirstSeq   uint64     `cbor:"5,keyasint"`
	LastSeq    uint64     `cbor:"6,keyasint"`
	ObjectHash string     `cbor:"7,keyasint"` // hex SHA-256 of the encrypted object
	Location   string     `cbor:"8,keyasint,omitempty"`
	State      BlockState `cbor:"9,keyasint"`
	SealedAt   int64      `cbor:"10,keyasint"`
	// Dropped is set when the disk budget deleted the block's readings and
	// object before they were uploaded; its credential is still anchored
	// (with a "dropped:" location) so the hash chain stays whole.
	Dropped bool `cbor:"11,keyasint,omitempty"`
	// KeyID names the signing key that signed the header
	// (format.KeyID); the outbox submits it. Empty in records sealed
	// before key ids were recorded.
	KeyID string `cbor:"12,keyasint,omitempty"`
}

func decodeBlock(height uint64, v []byte) (*BlockRecord, error) {
	var r BlockRecord
	if err := cbor.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("store: corrupt block record: %w", err)
	}
	sum := sha256.Sum256(r.Header)
	if r.Height != height || r.BlockID != hex.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("store: corrupt block record at height %d: it says height %d, block %s", height, r.Height, r.BlockID)
	}
	return &r, nil
}

// CommitBlock durably records a newly sealed block, its encrypted object and
// its place in the outbox, in one synced batch.
func (s *Store) CommitBlock(rec *BlockRecord, object []byte) error {
	v, err := cbor.Marshal(rec)
	if err != nil {
		return err
	}
	b := s.newBatch()
	b.put(cfBlocks, u64(rec.Height), v)
	b.put(cfBlockSeq, u64(rec.LastSeq), u64(rec.Height))
	b.put(cfObjects, u64(rec.Height), object)
	b.put(cfOutbox, u64(rec.Height), nil)
	return b.commit()
}

// UpdateBlock stores a block's new state; an anchored block leaves the outbox.
func (s *Store) UpdateBlock(rec *BlockRecord) error {
	v, err := cbor.Marshal(rec)
	if err != nil {
		return err
	}
	b := s.newBatch()
	b.put(cfBlocks, u64(rec.Height), v)
	if rec.State == Anchored {
		b.del(cfOutbox, u64(rec.Height))
	}
	return b.commit()
}

// Block returns the record of block height.
func (s *Store) Block(height uint64) (*BlockRecord, error) {
	v, err := s.get(cfBlocks, u64(height))
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", height, err)
	}
	return decodeBlock(height, v)
}

// LastBlock returns the most recently sealed block, or ErrNotFound.
func (s *Store) LastBlock() (*BlockRecord, error) {
	k, v, err := s.seekForPrev(cfBlocks, u64(^uint64(0)))
	if err != nil {
		return nil, err
	}
	height, err := getU64(k)
	if err != nil {
		return nil, err
	}
	return decodeBlock(height, v)
}

// BlockForSeq returns the block that holds reading seq, or ErrNotFound if it is not sealed yet.
func (s *Store) BlockForSeq(seq uint64) (*BlockRecord, error) {
	var height uint64
	found := false
	err := s.scan(cfBlockSeq, u64(seq), nil, func(_, v []byte) (bool, error) {
		h, err := getU64(v)
		height, found = h, err == nil
		return false, err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("reading %d is not sealed yet: %w", seq, ErrNotFound)
	}
	rec, err := s.Block(height)
	if err != nil {
		return nil, err
	}
	if seq < rec.FirstSeq {
		return nil, fmt.Errorf("reading %d is in no block: %w", seq, ErrNotFound)
	}
	return rec, nil
}

// Blocks calls fn for each block from height from upwards.
func (s *Store) Blocks(from uint64, fn func(*BlockRecord) (bool, error)) error {
	return s.scan(cfBlocks, u64(from), nil, func(k, v []byte) (bool, error) {
		height, err := getU64(k)
		if err != nil {
			return false, err
		}
		rec, err := decodeBlock(height, v)
		if err != nil {
			return false, err
		}
		return fn(rec)
	})
}

// Object returns the encrypted object of block height, kept locally until anchored.
func (s *Store) Object(height uint64) ([]byte, error) {
	v, err := s.get(cfObjects, u64(height))
	if err != nil {
		return nil, fmt.Errorf("object of block %d: %w", height, err)
	}
	return v, nil
}

// Outbox returns the heights of blocks not yet anchored, lowest first.
func (s *Store) Outbox() ([]uint64, error) {
	var out []uint64
	err := s.scan(cfOutbox, nil, nil, func(k, _ []byte) (bool, error) {
		h, err := getU64(k)
		out = append(out, h)
		return err == nil, err
	})
	return out, err
}

// IsNotFound reports whether err means a record is absent.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func cursorKey(name string) []byte { return []byte("cursor/" + name) }

// Cursor returns a named position kept across restarts (for example the
// last reading sequence a publisher had acknowledged); 0 when never set.
func (s *Store) Cursor(name string) (uint64, error) {
	v, err := s.get(cfMeta, cursorKey(name))
	if IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return getU64(v)
}

// SetCursor durably records a named position.
func (s *Store) SetCursor(name string, v uint64) error {
	b := s.newBatch()
	b.put(cfMeta, cursorKey(name), u64(v))
	return b.commit()
}
