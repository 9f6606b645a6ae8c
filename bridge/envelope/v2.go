package envelope

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"errors"
	"fmt"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
)

// FormatV2 names the v2 object: one encrypted section per poll, each under
// its own poll's section key (bridge/keytree), so a key delivery can open
// exactly the granted polls of a block and nothing else.
const FormatV2 = "wotchain-block/2"

// PollSection is one poll of a v2 object, in block order: the poll record
// v2 in clear (device, seq range, poll index, poll root, signature: no
// value, no time, no salt) and the section ciphertext.
type PollSection struct {
	Record  []byte `cbor:"1,keyasint"`
	Section []byte `cbor:"2,keyasint"`
}

// ObjectV2 is the stored form of a v2 block. The recipients wrap the
// block's full key set (bridge/keytree's encoding, opaque here).
type ObjectV2 struct {
	Format     string        `cbor:"1,keyasint"`
	Header     []byte        `cbor:"2,keyasint"`
	HeaderSig  []byte        `cbor:"3,keyasint"`
	KDF        uint16        `cbor:"4,keyasint"`
	AEAD       uint16        `cbor:"5,keyasint"`
	Recipients []Recipient   `cbor:"6,keyasint"`
	Encoding   uint64        `cbor:"7,keyasint"`
	Polls      []PollSection `cbor:"8,keyasint"`

	// records are the Polls' records as ParseV2 decoded them, so readers
	// do not decode every record again (see Record).
	records []*reading.PollRecord
}

// Record returns the decoded record of the poll at position k: ParseV2's
// decoding when the object came from ParseV2, else a fresh one.
func (o *ObjectV2) Record(k int) (*reading.PollRecord, error) {
	if k < 0 || k >= len(o.Polls) {
		return nil, fmt.Errorf("block object: no poll %d", k)
	}
	if len(o.records) == len(o.Polls) {
		return o.records[k], nil
	}
	return reading.DecodePoll(o.Polls[k].Record)
}

// PollInput is what the sealer hands over per poll: the record's bytes, the
// poll's section key (keytree.SectionKey of its poll key) and its
// canonical reading bytes in seq order.
type PollInput struct {
	Record     []byte
	SectionKey [32]byte
	Readings   [][]byte
}

// SealV2 encrypts each poll into its section (position k = index in
// polls), wraps keySet (the block's full key set) for every distinct
// recipient, and returns the object bytes.
func (c *Codec) SealV2(header, headerSig, keySet []byte, polls []PollInput, recipients []hpke.PublicKey) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("envelope: no recipients: nobody could ever read the block")
	}
	if len(polls) == 0 {
		return nil, errors.New("envelope: a v2 block needs at least one poll")
	}
	obj := ObjectV2{Format: FormatV2, Header: header, HeaderSig: headerSig, KDF: kdfID, AEAD: aeadID, Encoding: EncodingZstdCBOR}
	var err error
	if obj.Recipients, err = wrapAll(wrapInfo(wrapDomainV2, header), keySet, recipients); err != nil {
		return nil, err
	}
	hh := headerHash(header)
	obj.Polls = make([]PollSection, len(polls))
	for k, p := range polls {
		ct, err := c.SealSection(obj.Encoding, p.SectionKey, hh, uint64(k), p.Readings)
		if err != nil {
			return nil, fmt.Errorf("poll %d: %w", k, err)
		}
		obj.Polls[k] = PollSection{Record: p.Record, Section: ct}
	}
	return format.Marshal(&obj)
}

// FormatOf returns an object's format string (Format or FormatV2 for the
// objects this code writes) without judging the rest, so a reader can
// choose between Parse and ParseV2.
func FormatOf(object []byte) (string, error) {
	var head struct {
		Format string `cbor:"1,keyasint"`
	}
	if err := format.Unmarshal(object, &head); err != nil {
		return "", fmt.Errorf("block object: %w", err)
	}
	return head.Format, nil
}

// ParseV2 decodes v2 object bytes without decrypting. It is strict: the
// format string, the HPKE and encoding ids, the canonical encoding (so
// no duplicate keys, no unknown fields, no trailing bytes), well-formed
// and distinct recipients, and v2 poll records whose seq ranges follow one
// another in block order. The header's own content is the block reader's
// to judge.
func ParseV2(object []byte) (*ObjectV2, error) {
	var obj ObjectV2
	if err := format.Unmarshal(object, &obj); err != nil {
		return nil, fmt.Errorf("block object: %w", err)
	}
	if obj.Format != FormatV2 {
		return nil, fmt.Errorf("block object: format %q, want %q", obj.Format, FormatV2)
	}
	again, err := format.Marshal(&obj)
	if err != nil || !bytes.Equal(again, object) {
		return nil, errors.New("block object: not in canonical encoding")
	}
	if obj.KDF != kdfID || obj.AEAD != aeadID {
		return nil, fmt.Errorf("block object: unsupported HPKE suite kdf=%#04x aead=%#04x", obj.KDF, obj.AEAD)
	}
	if obj.Encoding != EncodingZstdCBOR {
		return nil, fmt.Errorf("block object: unknown section encoding %d", obj.Encoding)
	}
	if len(obj.Header) == 0 {
		return nil, errors.New("block object: no header")
	}
	if len(obj.HeaderSig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("block object: header signature has %d bytes", len(obj.HeaderSig))
	}
	if err := checkRecipients(obj.Recipients); err != nil {
		return nil, err
	}
	if obj.records, err = checkPollOrder(obj.Polls); err != nil {
		return nil, err
	}
	return &obj, nil
}

func checkRecipients(recipients []Recipient) error {
	if len(recipients) == 0 {
		return errors.New("block object: no recipients")
	}
	seen := map[string]bool{}
	for i, r := range recipients {
		if !validKeyID(r.KeyID) {
			return fmt.Errorf("block object: recipient %d: malformed key id %q", i, r.KeyID)
		}
		if seen[r.KeyID] {
			return fmt.Errorf("block object: recipient %s listed twice", r.KeyID)
		}
		seen[r.KeyID] = true
		if r.KEM != keys.KEMX25519 && r.KEM != keys.KEMMLKEM768X25519 {
			return fmt.Errorf("block object: recipient %s: unknown KEM %#04x", r.KeyID, r.KEM)
		}
		if len(r.Wrapped) == 0 {
			return fmt.Errorf("block object: recipient %s: nothing wrapped", r.KeyID)
		}
	}
	return nil
}

// validKeyID: keys.KeyID's form, 16 bytes in lowercase hex.
func validKeyID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkPollOrder: at least one poll, every record a canonical v2 record
// (reading.DecodePoll; the block reader verifies it), every section at least a tag long, and the records' seq
// ranges consecutive, so the sections are in block order, none twice.
func checkPollOrder(polls []PollSection) ([]*reading.PollRecord, error) {
	if len(polls) == 0 {
		return nil, errors.New("block object: no polls")
	}
	records := make([]*reading.PollRecord, len(polls))
	var next uint64
	for k, p := range polls {
		r, err := reading.DecodePoll(p.Record)
		if err != nil {
			return nil, fmt.Errorf("block object: poll %d: %w", k, err)
		}
		records[k] = r
		if r.Version() != reading.PollV2 {
			return nil, fmt.Errorf("block object: poll %d is a v1 poll record; a v2 block holds only v2 polls", k)
		}
		if k > 0 && r.FirstSeq != next {
			return nil, fmt.Errorf("block object: poll %d covers %d..%d, expected to start at %d (polls out of order)", k, r.FirstSeq, r.LastSeq, next)
		}
		next = r.LastSeq + 1
		if next == 0 {
			return nil, fmt.Errorf("block object: poll %d ends at the last sequence number", k)
		}
		if len(p.Section) < 16 {
			return nil, fmt.Errorf("block object: poll %d section of %d bytes is shorter than its tag", k, len(p.Section))
		}
	}
	return records, nil
}

// HeaderHash is the SHA-256 of the object's header bytes (sections' AAD,
// key-set HPKE info).
func (o *ObjectV2) HeaderHash() [32]byte { return headerHash(o.Header) }

// KeySet unwraps the block's full key set with a recipient's private key.
func (o *ObjectV2) KeySet(priv hpke.PrivateKey) ([]byte, error) {
	rec, err := findRecipient(o.Recipients, priv)
	if err != nil {
		return nil, err
	}
	return UnwrapKeySet(o.Header, rec, priv)
}

// OpenPoll decrypts the section of the poll at position k with its section
// key and returns its canonical reading bytes in seq order.
func (o *ObjectV2) OpenPoll(c *Codec, k int, sectionKey [32]byte) ([][]byte, error) {
	if k < 0 || k >= len(o.Polls) {
		return nil, fmt.Errorf("envelope: no poll %d in a block of %d polls", k, len(o.Polls))
	}
	return c.OpenSection(o.Encoding, sectionKey, o.HeaderHash(), uint64(k), o.Polls[k].Section)
}

// WrapKeySet wraps a key set (the block's full one, or a grant's cover of
// its polls in a delivery) for one recipient, bound to the block's header
// with the v2 HPKE info.
func WrapKeySet(header, keySet []byte, pub hpke.PublicKey) (Recipient, error) {
	return wrap(wrapInfo(wrapDomainV2, header), keySet, pub)
}

// UnwrapKeySet opens a recipient entry made by WrapKeySet for the block
// with these header bytes. The result is the key-set encoding
// (keytree.ParseKeySet judges it).
func UnwrapKeySet(header []byte, rec *Recipient, priv hpke.PrivateKey) ([]byte, error) {
	if kid := keys.KeyID(priv.PublicKey()); rec.KeyID != kid {
		return nil, fmt.Errorf("%w: the entry is for key %s, not %s", ErrNotRecipient, rec.KeyID, kid)
	}
	return unwrapWith(wrapInfo(wrapDomainV2, header), rec, priv)
}
