package envelope

import (
	"crypto/hpke"
	"errors"
	"fmt"

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
