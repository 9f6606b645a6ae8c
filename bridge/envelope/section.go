package envelope

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
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

	plain []byte // scratch: the CBOR array being sealed
	comp  []byte // scratch: its zstd frame, or a decrypted frame
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
	c.plain = appendByteStrings(c.plain[:0], readings)
	if len(c.plain) > c.limit {
		return nil, fmt.Errorf("envelope: poll section of %d bytes exceeds the %d-byte cap", len(c.plain), c.limit)
	}
	c.comp = c.enc.EncodeAll(c.plain, c.comp[:0])
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
	readings, err := parseByteStrings(plain)
	if err != nil {
		return nil, fmt.Errorf("section %d: %w", k, err)
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

// CBOR heads for the section plaintext, written and read by hand: it is a
// flat array of byte strings, and the generic codec would cost an
// allocation per reading and a re-encoding to check canonical form.
const (
	cborBytes = 2 << 5
	cborArray = 4 << 5
)

func appendHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= 0xff:
		return append(b, major|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, major|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, major|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, major|27), n)
}

// appendByteStrings appends the canonical CBOR array of byte strings, the
// bytes format.Marshal gives for a [][]byte.
func appendByteStrings(b []byte, items [][]byte) []byte {
	size := 9
	for _, it := range items {
		size += 9 + len(it)
	}
	b = growCap(b, size)
	b = appendHead(b, cborArray, uint64(len(items)))
	for _, it := range items {
		b = appendHead(b, cborBytes, uint64(len(it)))
		b = append(b, it...)
	}
	return b
}

func growCap(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

// readHead reads one CBOR head of the wanted major type, refusing
// indefinite and non-minimal lengths (the canonical form is the only one).
func readHead(b []byte, major byte) (uint64, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errors.New("section plaintext: truncated")
	}
	if b[0]&0xe0 != major {
		return 0, nil, fmt.Errorf("section plaintext: CBOR major type %d, want %d", b[0]>>5, major>>5)
	}
	info := b[0] & 0x1f
	b = b[1:]
	var n, least uint64
	switch {
	case info < 24:
		return uint64(info), b, nil
	case info == 24 && len(b) >= 1:
		n, b, least = uint64(b[0]), b[1:], 24
	case info == 25 && len(b) >= 2:
		n, b, least = uint64(binary.BigEndian.Uint16(b)), b[2:], 0x100
	case info == 26 && len(b) >= 4:
		n, b, least = uint64(binary.BigEndian.Uint32(b)), b[4:], 0x10000
	case info == 27 && len(b) >= 8:
		n, b, least = binary.BigEndian.Uint64(b), b[8:], 0x100000000
	default:
		return 0, nil, errors.New("section plaintext: truncated or indefinite CBOR head")
	}
	if n < least {
		return 0, nil, errors.New("section plaintext: CBOR length not in canonical (shortest) form")
	}
	return n, b, nil
}

// parseByteStrings is the strict inverse of appendByteStrings: exactly one
// canonical array of at least one byte string, nothing after it. The
// items alias b.
func parseByteStrings(b []byte) ([][]byte, error) {
	n, rest, err := readHead(b, cborArray)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("section plaintext: a poll has at least one reading")
	}
	// Every item takes at least one byte: a count beyond the remaining bytes
	// is a lie and must not size an allocation.
	if n > uint64(len(rest)) {
		return nil, fmt.Errorf("section plaintext: %d readings in %d bytes", n, len(rest))
	}
	out := make([][]byte, n)
	for i := range out {
		var l uint64
		if l, rest, err = readHead(rest, cborBytes); err != nil {
			return nil, fmt.Errorf("reading %d: %w", i, err)
		}
		if l > uint64(len(rest)) {
			return nil, fmt.Errorf("section plaintext: reading %d truncated", i)
		}
		out[i], rest = rest[:l:l], rest[l:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("section plaintext: %d bytes after the readings", len(rest))
	}
	return out, nil
}
