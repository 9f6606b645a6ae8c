package fabricledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/wire"
)

// The chaincode checks what it reads from the world state, but what reaches
// this client is whatever the peer sends: a faulty, outdated or hostile peer
// can answer anything. So every result is decoded strictly here and checked
// against its own signed header and against the question asked, and a
// mismatch is an error naming the transaction, never a value passed on.

// decodeResult unmarshals a transaction's JSON result into v.
func decodeResult(tx string, res []byte, v any) error {
	if err := json.Unmarshal(res, v); err != nil {
		return fmt.Errorf("%s: unexpected result %.200q: %w", tx, res, err)
	}
	return nil
}

// credentialMatch says whether a credential answers the question asked.
type credentialMatch func(*format.Credential) error

// checkCredential refuses a missing credential, one whose summary fields
// disagree with its header, or one that does not answer the question.
func checkCredential(tx string, c *format.Credential, match credentialMatch) error {
	if c == nil {
		return fmt.Errorf("%s: the peer returned no credential", tx)
	}
	if err := c.CheckSummary(); err != nil {
		return fmt.Errorf("%s: %w", tx, err)
	}
	if match != nil {
		if err := match(c); err != nil {
			return fmt.Errorf("%s: credential of block %s: %w", tx, c.BlockID, err)
		}
	}
	return nil
}

func ofBlock(blockID string) credentialMatch {
	return func(c *format.Credential) error {
		if c.BlockID != blockID {
			return fmt.Errorf("asked for block %s", blockID)
		}
		return nil
	}
}

func atHeight(applianceID string, height uint64) credentialMatch {
	return func(c *format.Credential) error {
		if c.ApplianceID != applianceID || c.Height != height {
			return fmt.Errorf("it is block %d of appliance %q, asked for block %d of %q", c.Height, c.ApplianceID, height, applianceID)
		}
		return nil
	}
}

func ofAppliance(applianceID string) credentialMatch {
	return func(c *format.Credential) error {
		if c.ApplianceID != applianceID {
			return fmt.Errorf("it is of appliance %q, asked for %q", c.ApplianceID, applianceID)
		}
		return nil
	}
}

func ofDevice(device string, from, to int64) credentialMatch {
	return func(c *format.Credential) error {
		if !slices.Contains(c.Devices, device) {
			return fmt.Errorf("it holds no reading of device %q", device)
		}
		if c.LastTime < from || c.FirstTime > to {
			return fmt.Errorf("its time range %d..%d is outside the one asked, %d..%d", c.FirstTime, c.LastTime, from, to)
		}
		return nil
	}
}

// submitted checks that an anchoring result is the credential of the
// submitted block, as submitted.
func submitted(sub format.Submission) credentialMatch {
	return func(c *format.Credential) error {
		if c.BlockID != format.BlockID(sub.Header) || !bytes.Equal(c.Header, sub.Header) || c.ObjectHash != sub.ObjectHash {
			return fmt.Errorf("not the credential of the submitted block %s (object %s)", format.BlockID(sub.Header), sub.ObjectHash)
		}
		return nil
	}
}

// credentialResult decodes and checks a single-credential result.
func credentialResult(tx string, res []byte, match credentialMatch) (*format.Credential, error) {
	var c *format.Credential
	if err := decodeResult(tx, res, &c); err != nil {
		return nil, err
	}
	if err := checkCredential(tx, c, match); err != nil {
		return nil, err
	}
	return c, nil
}

// anchoredResult decodes RecordCredential's result.
func anchoredResult(res []byte, sub format.Submission) (*format.Credential, bool, error) {
	var a wire.Anchored
	if err := decodeResult(wire.TxRecordCredential, res, &a); err != nil {
		return nil, false, err
	}
	if err := checkCredential(wire.TxRecordCredential, a.Credential, submitted(sub)); err != nil {
		return nil, false, err
	}
	return a.Credential, a.Recorded, nil
}

// batchResult decodes RecordCredentials' result and checks that it answers
// the submissions, one credential per block in the same order.
func batchResult(res []byte, subs []format.Submission) ([]format.Anchored, error) {
	var out []format.Anchored
	if err := decodeResult(wire.TxRecordCredentials, res, &out); err != nil {
		return nil, err
	}
	if len(out) != len(subs) {
		return nil, fmt.Errorf("%s: %d results for %d blocks", wire.TxRecordCredentials, len(out), len(subs))
	}
	for i, a := range out {
		if err := checkCredential(wire.TxRecordCredentials, a.Credential, submitted(subs[i])); err != nil {
			return nil, fmt.Errorf("result %d: %w", i, err)
		}
	}
	return out, nil
}

// pageResult decodes a listing and checks each credential. A listing by
// appliance must also be in strictly ascending height order, as the
// contract returns it, so a follower of the chain never goes back.
func pageResult(tx string, res []byte, match credentialMatch, ascending bool) (*format.Page, error) {
	var p format.Page
	if err := decodeResult(tx, res, &p); err != nil {
		return nil, err
	}
	for i, c := range p.Credentials {
		if err := checkCredential(tx, c, match); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if ascending && i > 0 && c.Height <= p.Credentials[i-1].Height {
			return nil, fmt.Errorf("%s: entry %d: height %d after %d, not in ascending order", tx, i, c.Height, p.Credentials[i-1].Height)
		}
	}
	return &p, nil
}

// applianceResult decodes GetAppliance's result.
func applianceResult(res []byte, id string) (*rules.Appliance, error) {
	return keyHistoryResult(wire.TxGetAppliance, res, id)
}

// keyHistoryResult decodes an appliance record a transaction returned and
// checks it is the one asked for, with a key history a verifier can use:
// each key named by its id, heights contiguous from 0, the last open and
// the record's public key.
func keyHistoryResult(tx string, res []byte, id string) (*rules.Appliance, error) {
	var a *rules.Appliance
	if err := decodeResult(tx, res, &a); err != nil {
		return nil, err
	}
	if a == nil || a.ID != id {
		return nil, fmt.Errorf("%s: the peer answered for another appliance than %q", tx, id)
	}
	if err := checkKeyHistory(a); err != nil {
		return nil, fmt.Errorf("%s: appliance %s: %w", tx, id, err)
	}
	return a, nil
}

// checkKeyHistory refuses a key history the contract could not have
// written. A record from a chaincode older than key history has none: it
// is read, as the contract reads it, as one key from height 0.
func checkKeyHistory(a *rules.Appliance) error {
	if len(a.Keys) == 0 {
		if len(a.PublicKey) != ed25519.PublicKeySize {
			return fmt.Errorf("public key of %d bytes", len(a.PublicKey))
		}
		a.Keys = []rules.ApplianceKey{{ID: format.KeyID(a.PublicKey), PublicKey: a.PublicKey}}
		return nil
	}
	var next uint64
	for i, k := range a.Keys {
		last := i == len(a.Keys)-1
		switch {
		case len(k.PublicKey) != ed25519.PublicKeySize || k.ID != format.KeyID(k.PublicKey):
			return fmt.Errorf("key %d (%s) is not named by its public key", i, k.ID)
		case k.FromHeight != next:
			return fmt.Errorf("key %s starts at height %d, want %d", k.ID, k.FromHeight, next)
		case last && k.ToHeight != 0 && !k.Cut:
			return fmt.Errorf("current key %s ends at height %d", k.ID, k.ToHeight)
		case (!last || k.Cut) && k.ToHeight < k.FromHeight:
			return fmt.Errorf("key %s ends at height %d, before it starts", k.ID, k.ToHeight)
		}
		next = k.ToHeight
	}
	if !bytes.Equal(a.Current().PublicKey, a.PublicKey) {
		return errors.New("its public key is not the last of its key history")
	}
	return nil
}

// historyResult decodes ApplianceHistory's result.
func historyResult(res []byte, id string) ([]wire.HistoryEntry, error) {
	var h []wire.HistoryEntry
	if err := decodeResult(wire.TxApplianceHistory, res, &h); err != nil {
		return nil, err
	}
	for i, e := range h {
		if e.Appliance != nil && e.Appliance.ID != id {
			return nil, fmt.Errorf("%s: entry %d (tx %s) registers appliance %q, asked for %q", wire.TxApplianceHistory, i, e.TxID, e.Appliance.ID, id)
		}
	}
	return h, nil
}

// grantResult checks that a grant is the one asked for.
func grantResult(tx string, g *rules.Grant, applianceID, grantID string) error {
	if g == nil {
		return fmt.Errorf("%s: the peer returned no grant", tx)
	}
	if g.ApplianceID != applianceID || g.ID != grantID {
		return fmt.Errorf("%s: the peer returned grant %q of appliance %q, asked for grant %q of %q", tx, g.ID, g.ApplianceID, grantID, applianceID)
	}
	return nil
}

// grantPageResult decodes ListGrants' result.
func grantPageResult(res []byte, applianceID string) (*rules.GrantPage, error) {
	var p rules.GrantPage
	if err := decodeResult(wire.TxListGrants, res, &p); err != nil {
		return nil, err
	}
	for i, g := range p.Grants {
		if g == nil || g.ApplianceID != applianceID {
			return nil, fmt.Errorf("%s: entry %d is not a grant of appliance %q", wire.TxListGrants, i, applianceID)
		}
	}
	return &p, nil
}
