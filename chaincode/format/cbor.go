// Package format holds what the ledger judges and every party must encode
// byte for byte alike: the canonical CBOR mode, the signed block header, and
// the credential, submission and listing records of the contract. It is a
// leaf (standard library and CBOR only), so the appliance (bridge/...), the
// contract's rules and a partner's verifier all share it without depending
// on each other.
package format

import "github.com/fxamacker/cbor/v2"

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err) // static options; cannot fail at run time
	}
	if decMode, err = (cbor.DecOptions{
		DupMapKey:       cbor.DupMapKeyEnforcedAPF,
		IndefLength:     cbor.IndefLengthForbidden,
		TagsMd:          cbor.TagsForbidden,
		MaxNestedLevels: 16,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// Marshal encodes v with CBOR core deterministic encoding. Every signed or
// hashed structure of the project goes through it.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Unmarshal decodes data strictly (no duplicate keys, no indefinite lengths, no tags).
func Unmarshal(data []byte, v any) error { return decMode.Unmarshal(data, v) }
