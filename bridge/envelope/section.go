package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"

	"github.com/wotchain/wotchain/chaincode/format"
)

// Section encodings (object v2, field 7). A later encoding gets a new
// number; whatever the encoding, a section opens to the poll's canonical
// reading bytes, which proofs work on.
const (
	// EncodingZstdCBOR: the CBOR array of the poll's reading bytes, in seq
	// order, compressed as one zstd frame.
	EncodingZstdCBOR uint64 = 1
)

// MaxSectionSize caps a section's decompressed plaintext (the CBOR array of
// a poll's readings). The sealer refuses to write a larger section, so an
// honest object never needs more, and a reader refuses a section that
// decompresses beyond it, so a hostile object cannot make a reader expand
// a few bytes into unbounded memory. 64 MiB is about a million float
// readings in one poll, far above any device's poll.
const MaxSectionSize = 64 << 20

// sectionDomain starts every section's AAD.
const sectionDomain = "wotchain/section/v2\x00"

// sectionNonce is all zero: a section key (derived from its poll key)
// encrypts exactly one plaintext, so a nonce never repeats under a key.
var sectionNonce [12]byte

// SectionAAD is the additional data a poll section is sealed with: the
// domain, the hash of the block's header bytes and the poll's position k in
// the block. A section therefore opens only in its own block at its own
// position.
func SectionAAD(headerHash [32]byte, k uint64) []byte {
	aad := make([]byte, 0, len(sectionDomain)+32+8)
	aad = append(aad, sectionDomain...)
	aad = append(aad, headerHash[:]...)
	return binary.BigEndian.AppendUint64(aad, k)
}

// Codec seals and opens poll sections. It holds one zstd encoder and one
// decoder and its scratch buffers, reused across sections and objects
// (building a zstd encoder costs far more than compressing a poll). A Codec
// is for one goroutine at a time.
type Codec struct {
	enc   *zstd.Encoder
	dec   *zstd.Decoder
	limit int // decompressed bytes a section may reach

	comp []byte // scratch: a section's zstd frame, or a decrypted frame
}

// NewCodec returns a codec with the MaxSectionSize cap.
func NewCodec() (*Codec, error) { return newCodec(MaxSectionSize) }

func newCodec(limit int) (*Codec, error) {
	// One goroutine each: sections are small and the appliance seals from
	// one goroutine; the checksum is left out because the AEAD tag already
	// authenticates every byte.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false),
		zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, fmt.Errorf("envelope: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)))
	if err != nil {
		return nil, fmt.Errorf("envelope: zstd decoder: %w", err)
	}
	return &Codec{enc: enc, dec: dec, limit: limit}, nil
}

// SealSection encrypts one poll's readings (canonical bytes, seq order) with
// the poll's section key for position k of the block whose header hashes
// to headerHash.
func (c *Codec) SealSection(encoding uint64, key [32]byte, headerHash [32]byte, k uint64, readings [][]byte) ([]byte, error) {
	if encoding != EncodingZstdCBOR {
		return nil, fmt.Errorf("envelope: section encoding %d is not one this appliance writes", encoding)
	}
	if len(readings) == 0 {
		return nil, errors.New("envelope: a poll section needs at least one reading")
	}
	plain, err := format.Marshal(readings)
	if err != nil {
		return nil, fmt.Errorf("envelope: poll section: %w", err)
	}
	if len(plain) > c.limit {
		return nil, fmt.Errorf("envelope: poll section of %d bytes exceeds the %d-byte cap", len(plain), c.limit)
	}
	c.comp = c.enc.EncodeAll(plain, c.comp[:0])
	gcm, err := newGCM(key[:])
	if err != nil {
		return nil, err
	}
	return gcm.Seal(make([]byte, 0, len(c.comp)+gcm.Overhead()), sectionNonce[:], c.comp, SectionAAD(headerHash, k)), nil
}

// ErrSectionAuth means a section did not authenticate: wrong key, or the
// section, its block's header or its position was changed.
var ErrSectionAuth = errors.New("envelope: poll section fails authentication (wrong key, corrupted, or moved to another block or position)")

// OpenSection decrypts and decodes the section at position k, returning the
// poll's canonical reading bytes in order. The returned slices share one
// fresh buffer; the codec keeps no reference to it.
func (c *Codec) OpenSection(encoding uint64, key [32]byte, headerHash [32]byte, k uint64, ciphertext []byte) ([][]byte, error) {
	if encoding != EncodingZstdCBOR {
		return nil, fmt.Errorf("envelope: unknown section encoding %d", encoding)
	}
	gcm, err := newGCM(key[:])
	if err != nil {
		return nil, err
	}
	c.comp, err = gcm.Open(c.comp[:0], sectionNonce[:], ciphertext, SectionAAD(headerHash, k))
	if err != nil {
		return nil, fmt.Errorf("section %d: %w", k, ErrSectionAuth)
	}
	plain, err := c.decompress(c.comp)
	if err != nil {
		return nil, fmt.Errorf("section %d: %w", k, err)
	}
	readings, err := parseReadings(plain)
	if err != nil {
		return nil, fmt.Errorf("section %d: %w", k, err)
	}
	return readings, nil
}

// parseReadings decodes a section plaintext strictly: one canonical CBOR
// array of at least one byte string (the bytes format.Marshal gives for
// the poll's readings), nothing else.
func parseReadings(plain []byte) ([][]byte, error) {
	var readings [][]byte
	if err := format.Unmarshal(plain, &readings); err != nil {
		return nil, fmt.Errorf("section plaintext: %w", err)
	}
	if len(readings) == 0 {
		return nil, errors.New("section plaintext: a poll has at least one reading")
	}
	again, err := format.Marshal(readings)
	if err != nil || !bytes.Equal(again, plain) {
		return nil, errors.New("section plaintext: not the canonical array of the poll's readings")
	}
	return readings, nil
}

// decompress refuses a frame that declares, or turns out to have, more than
// the codec's limit; the declared size is checked first so a lying header
// costs nothing.
func (c *Codec) decompress(frame []byte) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(frame); err != nil {
		return nil, fmt.Errorf("zstd frame header: %w", err)
	}
	if h.HasFCS && h.FrameContentSize > uint64(c.limit) {
		return nil, fmt.Errorf("section declares %d decompressed bytes, over the %d-byte cap", h.FrameContentSize, c.limit)
	}
	var dst []byte
	if h.HasFCS {
		dst = make([]byte, 0, h.FrameContentSize)
	}
	out, err := c.dec.DecodeAll(frame, dst)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return nil, fmt.Errorf("section decompresses beyond the %d-byte cap: %w", c.limit, err)
	}
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(out) > c.limit {
		return nil, fmt.Errorf("section decompresses beyond the %d-byte cap", c.limit)
	}
	return out, nil
}

// headerHash is the SHA-256 of a block's header bytes, which every section
// AAD and the v2 HPKE info carry.
func headerHash(header []byte) [32]byte { return sha256.Sum256(header) }
