package envelope

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/chaincode/format"
)

// DeliveryFormat names the key delivery format.
const DeliveryFormat = "wotchain-key/1"

// Delivery hands one licensed partner the data key of one block that is
// already stored, so licensing never re-encrypts or re-uploads a block. The
// wrapped key is bound to the block header (HPKE info), so a delivery
// cannot be replayed for another block.
type Delivery struct {
	Format    string    `cbor:"1,keyasint"`
	BlockID   string    `cbor:"2,keyasint"`
	GrantID   string    `cbor:"3,keyasint"`
	Recipient Recipient `cbor:"4,keyasint"`
}

// Encode returns the delivery's stored bytes.
func (d *Delivery) Encode() ([]byte, error) { return format.Marshal(d) }

// ParseDelivery decodes a stored delivery.
func ParseDelivery(data []byte) (*Delivery, error) {
	var d Delivery
	if err := format.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("key delivery: %w", err)
	}
	if d.Format != DeliveryFormat {
		return nil, fmt.Errorf("key delivery: format %q, want %q", d.Format, DeliveryFormat)
	}
	return &d, nil
}

// DeliveryName is where a block's key for a recipient key id is stored,
// relative to the storage root; a partner derives it without asking anyone.
func DeliveryName(keyID, blockID string) string { return "keys/" + keyID + "/" + blockID }

// OpenDelivered decrypts the object with a delivered data key.
func (obj *Object) OpenDelivered(d *Delivery, priv hpke.PrivateKey) ([]byte, error) {
	if kid := keys.KeyID(priv.PublicKey()); d.Recipient.KeyID != kid {
		return nil, fmt.Errorf("%w: the delivery is for key %s, not %s", ErrNotRecipient, d.Recipient.KeyID, kid)
	}
	dataKey, err := unwrap(obj.Header, &d.Recipient, priv)
	if err != nil {
		return nil, errors.Join(err, errors.New("the delivery does not belong to this block"))
	}
	return obj.Decrypt(dataKey)
}

// DeliveryFormatV2 names the key delivery of a v2 block: one per grant
// and block, wrapping the key set of exactly the grant's polls of the block.
const DeliveryFormatV2 = "wotchain-key/2"

// DeliveryNameV2 is where the delivery of a v2 block's keys for one grant
// is stored: keys/<key id>/<block id>/<grant>, so two grants of one
// partner over one block get two deliveries (the partner reads their
// union). <grant> is the grant id itself when it is a plain name (letters,
// digits, '.', '_', '-', not starting with '.', at most 128 bytes), as
// every id the CLI accepts in practice; any other id, which could escape
// a filesystem root ("../x") or an object prefix, is named by "~" and the
// hex SHA-256 of the id, which no plain name can equal. A partner derives
// either from the grant it reads on the ledger.
func DeliveryNameV2(keyID, blockID, grantID string) string {
	return "keys/" + keyID + "/" + blockID + "/" + GrantName(grantID)
}

// GrantName is the grant's component of DeliveryNameV2.
func GrantName(grantID string) string {
	if plainGrantID(grantID) {
		return grantID
	}
	sum := sha256.Sum256([]byte(grantID))
	return "~" + hex.EncodeToString(sum[:])
}

func plainGrantID(id string) bool {
	if id == "" || len(id) > 128 || id[0] == '.' {
		return false
	}
	for _, c := range []byte(id) {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// ParseDeliveryV2 decodes a stored v2 delivery strictly: the format
// string, the canonical encoding (no unknown or duplicate fields, no
// trailing bytes), a block id of 64 lowercase hex digits, a grant id, and a
// well-formed recipient entry. Whether the entry opens, and for which
// block, is OpenDeliveryV2's to judge.
func ParseDeliveryV2(data []byte) (*Delivery, error) {
	var d Delivery
	if err := format.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("key delivery: %w", err)
	}
	if d.Format != DeliveryFormatV2 {
		return nil, fmt.Errorf("key delivery: format %q, want %q", d.Format, DeliveryFormatV2)
	}
	if again, err := d.Encode(); err != nil || !bytes.Equal(again, data) {
		return nil, errors.New("key delivery: not in canonical encoding")
	}
	if len(d.BlockID) != 64 || strings.Trim(d.BlockID, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("key delivery: block id %q is not a hex SHA-256", d.BlockID)
	}
	if d.GrantID == "" {
		return nil, errors.New("key delivery: no grant id")
	}
	if err := checkRecipients([]Recipient{d.Recipient}); err != nil {
		return nil, fmt.Errorf("key delivery: %w", err)
	}
	return &d, nil
}

// NewDeliveryV2 wraps a grant's key set of the block with these header
// bytes (keytree's encoding) for the partner's key, with the same HPKE
// info as the object's recipients: the entry opens for this block only.
func NewDeliveryV2(header []byte, grantID string, keySet []byte, pub hpke.PublicKey) (*Delivery, error) {
	rec, err := WrapKeySet(header, keySet, pub)
	if err != nil {
		return nil, err
	}
	return &Delivery{Format: DeliveryFormatV2, BlockID: format.BlockID(header), GrantID: grantID, Recipient: rec}, nil
}

// OpenDeliveryV2 unwraps a v2 delivery's key set for this object: the
// delivery must name the object's block and be for priv's key. The result
// is the key-set encoding (keytree.ParseKeySet judges it).
func (o *ObjectV2) OpenDeliveryV2(d *Delivery, priv hpke.PrivateKey) ([]byte, error) {
	if d.Format != DeliveryFormatV2 {
		return nil, fmt.Errorf("key delivery: format %q, want %q", d.Format, DeliveryFormatV2)
	}
	if id := format.BlockID(o.Header); d.BlockID != id {
		return nil, fmt.Errorf("key delivery: for block %s, not %s", d.BlockID, id)
	}
	ks, err := UnwrapKeySet(o.Header, &d.Recipient, priv)
	if err != nil {
		return nil, errors.Join(err, errors.New("the delivery does not belong to this block"))
	}
	return ks, nil
}
