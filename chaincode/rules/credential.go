package rules

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/wotchain/wotchain/bridge/block"
)

const (
	keyCredential = "cred"   // [block id] -> Credential
	keyHeight     = "height" // [appliance, height] -> block id
	keyDevice     = "device" // [device, appliance, height] -> block id

	// EventBlockAnchored is emitted by RecordCredential with the credential
	// (JSON) as payload. Batches emit EventBlocksAnchored instead (batch.go).
	EventBlockAnchored = "BlockAnchored"

	maxLocation = 1024
)

// Credential is what the ledger holds for a block: enough to find it, check
// its header, and check the stored object, but none of its data.
type Credential struct {
	BlockID     string   `json:"blockId"`
	ApplianceID string   `json:"applianceId"`
	Height      uint64   `json:"height"`
	PrevBlockID string   `json:"prevBlockId,omitempty"`
	FirstSeq    uint64   `json:"firstSeq"`
	LastSeq     uint64   `json:"lastSeq"`
	FirstTime   int64    `json:"firstTime"`
	LastTime    int64    `json:"lastTime"`
	Devices     []string `json:"devices"`
	Count       uint64   `json:"count"`
	MerkleRoot  string   `json:"merkleRoot"`
	ObjectHash  string   `json:"objectHash"` // hex SHA-256 of the encrypted object
	Location    string   `json:"location"`
	Header      []byte   `json:"header"` // canonical header bytes, so anyone can re-check the signature
	HeaderSig   []byte   `json:"headerSig"`
	SignerMSP   string   `json:"signerMsp"`
	SignerID    string   `json:"signerId"`
}

// Submission is what the appliance submits to anchor a block.
type Submission struct {
	Header     []byte `json:"header"`
	HeaderSig  []byte `json:"headerSig"`
	ObjectHash string `json:"objectHash"`
	Location   string `json:"location"`
}

// RecordCredential accepts a block credential when the caller is the
// appliance's registered anchoring identity, the header is signed by the
// appliance, and the block extends the appliance's chain. Submitting the
// same credential again returns the recorded one with recorded=false, so a
// retried transaction never anchors a block twice; anything that differs
// from what is recorded for that block or height is a conflict.
func RecordCredential(st State, caller Caller, sub Submission) (cred *Credential, recorded bool, err error) {
	c, v, recorded, err := recordCredential(st, caller, sub)
	if err != nil || !recorded {
		return c, false, err
	}
	if err := st.SetEvent(EventBlockAnchored, v); err != nil {
		return nil, false, err
	}
	return c, true, nil
}

// recordCredential applies RecordCredential's checks and writes, and
// returns the credential's JSON when it recorded it, but emits no event:
// Fabric keeps one event per transaction, so a batch emits its own.
func recordCredential(st State, caller Caller, sub Submission) (cred *Credential, encoded []byte, recorded bool, err error) {
	h, err := block.ParseHeader(sub.Header)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(sub.ObjectHash) != 64 || strings.Trim(sub.ObjectHash, "0123456789abcdef") != "" {
		return nil, nil, false, fmt.Errorf("%w: object hash %q is not hex SHA-256", ErrInvalid, sub.ObjectHash)
	}
	if sub.Location == "" || len(sub.Location) > maxLocation {
		return nil, nil, false, fmt.Errorf("%w: storage location empty or longer than %d", ErrInvalid, maxLocation)
	}
	app, err := GetAppliance(st, h.ApplianceID)
	if err != nil {
		return nil, nil, false, err
	}
	if caller.MSPID != app.AnchorMSP || caller.ID != app.AnchorID {
		return nil, nil, false, fmt.Errorf("%w: %s may not anchor for appliance %s", ErrForbidden, caller, app.ID)
	}
	if err := block.VerifyHeaderSig(app.PublicKey, sub.Header, sub.HeaderSig); err != nil {
		return nil, nil, false, fmt.Errorf("%w: appliance %s block %d: %v", ErrBadSignature, app.ID, h.Height, err)
	}
	c := newCredential(h, sub, caller)

	if existing, err := GetCredential(st, c.BlockID); err == nil {
		if existing.ObjectHash == c.ObjectHash && existing.Location == c.Location {
			return existing, nil, false, nil
		}
		return nil, nil, false, fmt.Errorf("%w: block %s is recorded with object %s at %s", ErrConflict, c.BlockID, existing.ObjectHash, existing.Location)
	} else if !isNotFound(err) {
		return nil, nil, false, err
	}
	heightKey, err := CompositeKey(keyHeight, h.ApplianceID, heightAttr(h.Height))
	if err != nil {
		return nil, nil, false, err
	}
	if other, err := st.GetState(heightKey); err != nil {
		return nil, nil, false, err
	} else if other != nil {
		return nil, nil, false, fmt.Errorf("%w: appliance %s height %d already holds block %s", ErrConflict, h.ApplianceID, h.Height, other)
	}
	if h.Height > 0 {
		prevKey, err := CompositeKey(keyHeight, h.ApplianceID, heightAttr(h.Height-1))
		if err != nil {
			return nil, nil, false, err
		}
		prev, err := st.GetState(prevKey)
		if err != nil {
			return nil, nil, false, err
		}
		if prev == nil {
			return nil, nil, false, fmt.Errorf("%w: block %d of %s arrives before block %d", ErrBrokenChain, h.Height, h.ApplianceID, h.Height-1)
		}
		if string(prev) != c.PrevBlockID {
			return nil, nil, false, fmt.Errorf("%w: block %d of %s names previous %s, ledger holds %s", ErrBrokenChain, h.Height, h.ApplianceID, c.PrevBlockID, prev)
		}
	}
	v, err := writeCredential(st, c, heightKey)
	if err != nil {
		return nil, nil, false, err
	}
	return c, v, true, nil
}

func newCredential(h *block.Header, sub Submission, caller Caller) *Credential {
	c := &Credential{
		BlockID: block.ID(sub.Header), ApplianceID: h.ApplianceID, Height: h.Height,
		FirstSeq: h.FirstSeq, LastSeq: h.LastSeq, FirstTime: h.FirstTime, LastTime: h.LastTime,
		Devices: h.Devices, Count: h.Count, MerkleRoot: hex.EncodeToString(h.MerkleRoot),
		ObjectHash: sub.ObjectHash, Location: sub.Location, Header: sub.Header, HeaderSig: sub.HeaderSig,
		SignerMSP: caller.MSPID, SignerID: caller.ID,
	}
	if len(h.PrevHash) > 0 {
		c.PrevBlockID = hex.EncodeToString(h.PrevHash)
	}
	return c
}

// writeCredential writes a credential and its indexes and returns its JSON.
func writeCredential(st State, c *Credential, heightKey string) ([]byte, error) {
	v, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	credKey, err := CompositeKey(keyCredential, c.BlockID)
	if err != nil {
		return nil, err
	}
	if err := st.PutState(credKey, v); err != nil {
		return nil, err
	}
	if err := st.PutState(heightKey, []byte(c.BlockID)); err != nil {
		return nil, err
	}
	for _, d := range c.Devices {
		k, err := CompositeKey(keyDevice, d, c.ApplianceID, heightAttr(c.Height))
		if err != nil {
			return nil, err
		}
		if err := st.PutState(k, []byte(c.BlockID)); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// heightAttr pads heights so composite keys sort numerically.
func heightAttr(h uint64) string { return fmt.Sprintf("%020d", h) }

// GetCredential returns the credential of a block.
func GetCredential(st State, blockID string) (*Credential, error) {
	key, err := CompositeKey(keyCredential, blockID)
	if err != nil {
		return nil, err
	}
	v, err := st.GetState(key)
	if err != nil {
		return nil, fmt.Errorf("read credential %s: %w", blockID, err)
	}
	if v == nil {
		return nil, fmt.Errorf("%w: credential for block %s", ErrNotFound, blockID)
	}
	c, err := decodeCredential(v)
	if err != nil {
		return nil, err
	}
	if c.BlockID != blockID {
		return nil, fmt.Errorf("credential %s: the ledger holds block %s's credential under it", blockID, c.BlockID)
	}
	return c, nil
}

// decodeCredential parses a credential read from the ledger and re-derives
// its summary fields from the signed header, so a record altered on the
// ledger side is caught rather than trusted.
func decodeCredential(v []byte) (*Credential, error) {
	var c Credential
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("corrupt credential on the ledger: %w", err)
	}
	if err := c.CheckSummary(); err != nil {
		return nil, err
	}
	return &c, nil
}

// CheckSummary re-derives the credential's summary fields (block id, height,
// ranges, devices, root, previous block) from its header bytes and refuses
// any difference. The header's signature is not checked here: that needs
// the appliance's registered key (verify does it). Clients call it on every
// credential a peer returns, since a peer can answer anything.
func (c *Credential) CheckSummary() error {
	h, err := block.ParseHeader(c.Header)
	if err != nil {
		return fmt.Errorf("credential %s: %w", c.BlockID, err)
	}
	want := newCredential(h, Submission{Header: c.Header, HeaderSig: c.HeaderSig, ObjectHash: c.ObjectHash, Location: c.Location}, Caller{MSPID: c.SignerMSP, ID: c.SignerID})
	a, err := json.Marshal(want)
	if err != nil {
		return fmt.Errorf("credential %s: %w", c.BlockID, err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("credential %s: %w", c.BlockID, err)
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("credential %s: summary fields disagree with its signed header", c.BlockID)
	}
	return nil
}

// CredentialAt returns the credential of an appliance's block at height.
func CredentialAt(st State, applianceID string, height uint64) (*Credential, error) {
	key, err := CompositeKey(keyHeight, applianceID, heightAttr(height))
	if err != nil {
		return nil, err
	}
	id, err := st.GetState(key)
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, fmt.Errorf("%w: block %d of appliance %s", ErrNotFound, height, applianceID)
	}
	return GetCredential(st, string(id))
}

// Page is one page of a listing.
type Page struct {
	Credentials []*Credential `json:"credentials"`
	Bookmark    string        `json:"bookmark,omitempty"` // pass back for the next page; empty after the last
}

// ListByAppliance lists an appliance's credentials in height order.
func ListByAppliance(st State, applianceID string, limit int, bookmark string) (*Page, error) {
	return list(st, keyHeight, []string{applianceID}, limit, bookmark, nil)
}

// ListByDevice lists credentials of blocks holding readings of device whose
// time range overlaps [from, to] (Unix ns).
func ListByDevice(st State, device string, from, to int64, limit int, bookmark string) (*Page, error) {
	return list(st, keyDevice, []string{device}, limit, bookmark, func(c *Credential) bool {
		return c.LastTime >= from && c.FirstTime <= to
	})
}

func list(st State, objectType string, attrs []string, limit int, bookmark string, keep func(*Credential) bool) (*Page, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	entries, next, err := st.ScanComposite(objectType, attrs, limit, bookmark)
	if err != nil {
		return nil, err
	}
	page := &Page{Bookmark: next}
	for _, e := range entries {
		c, err := GetCredential(st, string(e.Value))
		if err != nil {
			return nil, err
		}
		if keep == nil || keep(c) {
			page.Credentials = append(page.Credentials, c)
		}
	}
	return page, nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
