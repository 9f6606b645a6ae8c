package envelope

// A copy of branch v2license's v2 delivery API (bridge/envelope/delivery.go
// there), for the readers until that branch lands; whichever lands second
// drops this file.

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/wotchain/wotchain/chaincode/format"
)

// DeliveryFormatV2 names the key delivery of a v2 block: one per grant
// and block, wrapping the key set of exactly the grant's polls of the block.
const DeliveryFormatV2 = "wotchain-key/2"

// DeliveryNameV2 is where the delivery of a v2 block's keys for one grant
// is stored: keys/<key id>/<block id>/<grant>; see GrantName.
func DeliveryNameV2(keyID, blockID, grantID string) string {
	return "keys/" + keyID + "/" + blockID + "/" + GrantName(grantID)
}

// GrantName is the grant's component of DeliveryNameV2: the id itself when
// it is a plain name, else "~" and the hex SHA-256 of the id.
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

// ParseDeliveryV2 decodes a stored v2 delivery strictly.
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
// bytes for the partner's key.
func NewDeliveryV2(header []byte, grantID string, keySet []byte, pub hpke.PublicKey) (*Delivery, error) {
	rec, err := WrapKeySet(header, keySet, pub)
	if err != nil {
		return nil, err
	}
	return &Delivery{Format: DeliveryFormatV2, BlockID: format.BlockID(header), GrantID: grantID, Recipient: rec}, nil
}

// OpenDeliveryV2 unwraps a v2 delivery's key set for this object.
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
