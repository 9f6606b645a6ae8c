package envelope

import (
	"crypto/hpke"
	"fmt"

	"github.com/wotchain/wotchain/chaincode/format"
)

// DeliveryFormatV2 names a v2 key delivery: the Delivery fields, the entry
// wrapping the grant's key set for the block (WrapKeySet) instead of the
// block's data key.
const DeliveryFormatV2 = "wotchain-key/2"

// DeliveryNameV2 is where the key set of one grant for one v2 block is
// stored for a recipient key id. A partner with several grants has one
// delivery per grant and block, so the name carries the grant id; the
// partner lists its grants on the ledger and derives the names.
func DeliveryNameV2(keyID, blockID, grantID string) string {
	return "keys/" + keyID + "/" + blockID + "/" + grantID
}

// ParseDeliveryAny decodes a stored delivery of either format; Format says
// which (DeliveryFormat for a v1 block, DeliveryFormatV2 for a v2 block).
func ParseDeliveryAny(data []byte) (*Delivery, error) {
	var d Delivery
	if err := format.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("key delivery: %w", err)
	}
	if d.Format != DeliveryFormat && d.Format != DeliveryFormatV2 {
		return nil, fmt.Errorf("key delivery: format %q, want %q or %q", d.Format, DeliveryFormat, DeliveryFormatV2)
	}
	return &d, nil
}

// KeySet unwraps a v2 delivery's key set (keytree's encoding) for the block
// with these header bytes.
func (d *Delivery) KeySet(header []byte, priv hpke.PrivateKey) ([]byte, error) {
	if d.Format != DeliveryFormatV2 {
		return nil, fmt.Errorf("key delivery: format %q is not a v2 delivery", d.Format)
	}
	return UnwrapKeySet(header, &d.Recipient, priv)
}
