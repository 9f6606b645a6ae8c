// Package rules is the contract's logic: who may register an appliance, when
// a block credential is accepted, and how credentials are found again. It
// has no Fabric import: the Fabric chaincode and the appliance's embedded
// ledger both run exactly this code over their own State.
package rules

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors callers can test for with errors.Is.
var (
	ErrForbidden        = errors.New("forbidden")
	ErrUnknownAppliance = errors.New("appliance not registered")
	ErrConflict         = errors.New("conflicts with a recorded credential")
	ErrBrokenChain      = errors.New("previous block link does not match the ledger")
	ErrBadSignature     = errors.New("bad appliance signature")
	ErrInvalid          = errors.New("invalid argument")
	ErrNotFound         = errors.New("not found")
	// ErrKeyRevoked refuses a block signed by a key revoked as compromised
	// before the block's anchoring time.
	ErrKeyRevoked = errors.New("signing key revoked")
)

// Caller is the identity that submitted a transaction, as the ledger
// authenticated it (on Fabric: MSP id and X.509 identity from the client's
// certificate; Admin when the certificate carries the admin role).
type Caller struct {
	MSPID string
	ID    string
	Admin bool
}

// String shows the caller to people (IdentityName); ID stays the raw id.
func (c Caller) String() string { return IdentityName(c.MSPID, c.ID) }

// KV is one state entry returned by a scan.
type KV struct {
	Key   string
	Value []byte
}

// State is the ledger's world state as the contract sees it. Its shape
// follows Fabric's chaincode stub (composite keys, paginated partial-key
// queries, one event per transaction), so each method maps onto one stub call.
type State interface {
	GetState(key string) ([]byte, error)
	PutState(key string, value []byte) error
	// ScanComposite returns up to limit entries whose composite key starts
	// with objectType and attrs, in key order, from bookmark ("" = first).
	// next is the bookmark of the following page, "" after the last.
	ScanComposite(objectType string, attrs []string, limit int, bookmark string) (entries []KV, next string, err error)
	SetEvent(name string, payload []byte) error
}

// CompositeKey builds a key exactly as Fabric's CreateCompositeKey does, so
// state written by the embedded ledger and by chaincode has the same layout.
func CompositeKey(objectType string, attrs ...string) (string, error) {
	var b strings.Builder
	b.WriteByte(0)
	for _, s := range append([]string{objectType}, attrs...) {
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\U0010FFFF") {
			return "", fmt.Errorf("%w: key part %q is not valid UTF-8 or holds a reserved character", ErrInvalid, s)
		}
		b.WriteString(s)
		b.WriteByte(0)
	}
	return b.String(), nil
}

// Policy holds the network-level settings the rules need.
type Policy struct {
	// ManufacturerMSP is the organisation whose admins register appliances.
	ManufacturerMSP string
}
