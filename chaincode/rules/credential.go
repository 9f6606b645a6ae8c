package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/wotchain/wotchain/chaincode/format"
)

const (
	keyCredential = "cred"   // [block id] -> format.Credential
	keyHeight     = "height" // [appliance, height] -> block id
	keyDevice     = "device" // [device, appliance, height] -> block id

	// EventBlockAnchored is emitted by RecordCredential with the credential
	// (JSON) as payload. Batches emit EventBlocksAnchored instead (batch.go).
	EventBlockAnchored = "BlockAnchored"

	maxLocation = 1024
)

// RecordCredential accepts a block credential when the caller is the
// appliance's registered anchoring identity, the header is signed by the
// appliance key of the block's height (the one the submission names, if it
// names one), that key was not compromised before now, and the block
// extends the appliance's chain. now is the transaction time (Unix ns),
// recorded in the credential with the key's id. Submitting the same
// credential again returns the recorded one with recorded=false, so a
// retried transaction never anchors a block twice; anything that differs
// from what is recorded for that block or height is a conflict.
func RecordCredential(st State, caller Caller, sub format.Submission, now int64) (cred *format.Credential, recorded bool, err error) {
	c, v, recorded, err := recordCredential(st, caller, sub, now)
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
func recordCredential(st State, caller Caller, sub format.Submission, now int64) (cred *format.Credential, encoded []byte, recorded bool, err error) {
	h, err := format.ParseHeader(sub.Header)
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
	key, err := signingKey(app, h.Height, sub)
	if err != nil {
		return nil, nil, false, err
	}
	c := format.NewCredential(h, sub, caller.MSPID, caller.ID)
	c.KeyID, c.AnchoredAt = key.ID, now

	if existing, err := GetCredential(st, c.BlockID); err == nil {
		if existing.ObjectHash == c.ObjectHash && existing.Location == c.Location {
			return existing, nil, false, nil
		}
		return nil, nil, false, fmt.Errorf("%w: block %s is recorded with object %s at %s", ErrConflict, c.BlockID, existing.ObjectHash, existing.Location)
	} else if !isNotFound(err) {
		return nil, nil, false, err
	}
	// After the look-up of the recorded credential: a retry of a block
	// anchored before the revocation gets its credential back. A new block
	// is judged at now or the revocation's time, whichever is later: this
	// transaction comes after the revocation on the ledger, so a client
	// clock set back (Fabric does not check it) cannot slip a block in.
	if key.RevokedFor(max(now, key.RevokedAt)) {
		return nil, nil, false, fmt.Errorf("%w: appliance %s block %d: key %s was revoked at %s (compromised at %s: %s); blocks signed by it are refused from %s on; rotate the appliance's key",
			ErrKeyRevoked, app.ID, h.Height, key.ID, formatTime(key.RevokedAt), formatTime(key.CompromisedAt), key.RevokeReason, formatTime(key.CompromisedAt))
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

// signingKey is the key that must have signed the appliance's block at
// height, checked against the submission's key id and signature.
func signingKey(app *Appliance, height uint64, sub format.Submission) (ApplianceKey, error) {
	key, ok := app.KeyForHeight(height)
	if !ok {
		if err := cutKeyRefusal(app, height, sub); err != nil {
			return ApplianceKey{}, err
		}
		return ApplianceKey{}, fmt.Errorf("%w: appliance %s has no key for block %d", ErrBadSignature, app.ID, height)
	}
	if sub.KeyID != "" && sub.KeyID != key.ID {
		if err := cutKeyRefusal(app, height, sub); err != nil {
			return ApplianceKey{}, err
		}
		return ApplianceKey{}, fmt.Errorf("%w: block %d must be signed by key %s (heights %s); the submission names %s",
			ErrBadSignature, height, key.ID, key.Heights(), sub.KeyID)
	}
	if err := format.VerifyHeaderSig(key.PublicKey, sub.Header, sub.HeaderSig); err != nil {
		if err := cutKeyRefusal(app, height, sub); err != nil {
			return ApplianceKey{}, err
		}
		return ApplianceKey{}, fmt.Errorf("%w: appliance %s block %d: %v (key %s, heights %s)", ErrBadSignature, app.ID, height, err, key.ID, key.Heights())
	}
	return key, nil
}

// cutKeyRefusal explains the refusal of a block at height signed by (or
// naming) a key whose revocation cut its range below height: the block was
// sealed under that key and stranded by the revocation. It returns nil
// when no such key signed the submission.
func cutKeyRefusal(app *Appliance, height uint64, sub format.Submission) error {
	for _, k := range app.Keys {
		if !k.Cut || height < k.ToHeight || height < k.FromHeight {
			continue
		}
		if sub.KeyID == k.ID || (sub.KeyID == "" && format.VerifyHeaderSig(k.PublicKey, sub.Header, sub.HeaderSig) == nil) {
			next := "the next rotation's key; rotate the appliance's key"
			if cur := app.Current(); cur.ID != k.ID && !cur.Cut {
				next = "key " + cur.ID
			}
			return fmt.Errorf("%w: appliance %s block %d: key %s was revoked at %s (compromised at %s: %s) and signs no block from height %d on, the first it had not anchored; the appliance re-seals its blocks from there under %s",
				ErrKeyRevoked, app.ID, height, k.ID, formatTime(k.RevokedAt), formatTime(k.CompromisedAt), k.RevokeReason, k.ToHeight, next)
		}
	}
	return nil
}

// writeCredential writes a credential and its indexes and returns its JSON.
func writeCredential(st State, c *format.Credential, heightKey string) ([]byte, error) {
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
func GetCredential(st State, blockID string) (*format.Credential, error) {
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
func decodeCredential(v []byte) (*format.Credential, error) {
	var c format.Credential
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("corrupt credential on the ledger: %w", err)
	}
	if err := c.CheckSummary(); err != nil {
		return nil, err
	}
	return &c, nil
}

// CredentialAt returns the credential of an appliance's block at height.
func CredentialAt(st State, applianceID string, height uint64) (*format.Credential, error) {
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

// ListByAppliance lists an appliance's credentials in height order.
func ListByAppliance(st State, applianceID string, limit int, bookmark string) (*format.Page, error) {
	return list(st, keyHeight, []string{applianceID}, limit, bookmark, nil)
}

// ListByDevice lists credentials of blocks holding readings of device whose
// time range overlaps [from, to] (Unix ns).
func ListByDevice(st State, device string, from, to int64, limit int, bookmark string) (*format.Page, error) {
	return list(st, keyDevice, []string{device}, limit, bookmark, func(c *format.Credential) bool {
		return c.LastTime >= from && c.FirstTime <= to
	})
}

func list(st State, objectType string, attrs []string, limit int, bookmark string, keep func(*format.Credential) bool) (*format.Page, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	entries, next, err := st.ScanComposite(objectType, attrs, limit, bookmark)
	if err != nil {
		return nil, err
	}
	page := &format.Page{Bookmark: next}
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
