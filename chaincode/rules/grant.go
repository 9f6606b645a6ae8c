package rules

import (
	"crypto/hpke"
	"encoding/json"
	"fmt"
	"slices"
)

const (
	keyGrant = "grant" // [appliance, grant id] -> Grant

	// EventGrantRecorded and EventGrantRevoked carry the grant as payload.
	EventGrantRecorded = "GrantRecorded"
	EventGrantRevoked  = "GrantRevoked"
)

// Grant licenses a partner organisation to read an appliance's data: the
// readings of Devices (all devices when empty) in the time range [From,
// To]. The appliance delivers, wrapped for PartnerKey, the keys of exactly
// those readings' polls of a v2 block, or the data key of a v1 block that
// holds any of them (which opens the whole block); after RevokedAt, blocks
// sealed later get none.
type Grant struct {
	ID          string   `json:"id"`
	ApplianceID string   `json:"applianceId"`
	OwnerMSP    string   `json:"ownerMsp"`
	PartnerMSP  string   `json:"partnerMsp"`
	PartnerKEM  uint16   `json:"partnerKem"` // HPKE KEM id of PartnerKey
	PartnerKey  []byte   `json:"partnerKey"` // HPKE public key
	Devices     []string `json:"devices,omitempty"`
	From        int64    `json:"from"` // Unix ns
	To          int64    `json:"to"`
	GrantedBy   string   `json:"grantedBy"`
	GrantedAt   int64    `json:"grantedAt"`
	RevokedAt   int64    `json:"revokedAt,omitempty"`
}

// Covers reports whether the grant licenses a block with these devices,
// time range and seal time.
func (g *Grant) Covers(devices []string, firstTime, lastTime, sealedAt int64) bool {
	if g.RevokedAt != 0 && sealedAt >= g.RevokedAt {
		return false
	}
	if lastTime < g.From || firstTime > g.To {
		return false
	}
	if len(g.Devices) == 0 {
		return true
	}
	for _, d := range devices {
		if slices.Contains(g.Devices, d) {
			return true
		}
	}
	return false
}

// mayLicense checks that caller is an admin of the appliance's owner.
func mayLicense(st State, caller Caller, applianceID string) (*Appliance, error) {
	app, err := GetAppliance(st, applianceID)
	if err != nil {
		return nil, err
	}
	if caller.MSPID != app.OwnerMSP || !caller.Admin {
		return nil, fmt.Errorf("%w: only an admin of %s, the owner of appliance %s, may license its data (caller %s)", ErrForbidden, app.OwnerMSP, applianceID, caller)
	}
	return app, nil
}

// RecordGrant records a grant made by the data owner. now is the
// transaction's time. Recording the identical grant again returns
// recorded=false; another grant under the same id is a conflict.
func RecordGrant(st State, caller Caller, g Grant, now int64) (*Grant, bool, error) {
	app, err := mayLicense(st, caller, g.ApplianceID)
	if err != nil {
		return nil, false, err
	}
	if g.PartnerMSP == app.OwnerMSP || g.PartnerMSP == caller.MSPID {
		return nil, false, fmt.Errorf("%w: an organisation cannot grant itself (%s)", ErrForbidden, g.PartnerMSP)
	}
	switch {
	case g.ID == "" || g.PartnerMSP == "":
		return nil, false, fmt.Errorf("%w: grant needs an id and a partner organisation", ErrInvalid)
	case g.To < g.From:
		return nil, false, fmt.Errorf("%w: grant %s: time range ends before it starts", ErrInvalid, g.ID)
	}
	kem, err := hpke.NewKEM(g.PartnerKEM)
	if err != nil {
		return nil, false, fmt.Errorf("%w: grant %s: %v", ErrInvalid, g.ID, err)
	}
	if _, err := kem.NewPublicKey(g.PartnerKey); err != nil {
		return nil, false, fmt.Errorf("%w: grant %s: partner key: %v", ErrInvalid, g.ID, err)
	}
	g.Devices = slices.Compact(slices.Sorted(slices.Values(g.Devices)))
	// GrantedBy keeps the raw id (MSP/id), not the display form.
	g.OwnerMSP, g.GrantedBy, g.GrantedAt, g.RevokedAt = app.OwnerMSP, caller.MSPID+"/"+caller.ID, now, 0
	if existing, err := GetGrant(st, g.ApplianceID, g.ID); err == nil {
		if sameTerms(existing, &g) {
			return existing, false, nil
		}
		return nil, false, fmt.Errorf("%w: grant %s already exists with other terms", ErrConflict, g.ID)
	} else if !isNotFound(err) {
		return nil, false, err
	}
	return &g, true, putGrant(st, &g, EventGrantRecorded)
}

func sameTerms(a, b *Grant) bool {
	return a.PartnerMSP == b.PartnerMSP && a.PartnerKEM == b.PartnerKEM && string(a.PartnerKey) == string(b.PartnerKey) &&
		slices.Equal(a.Devices, b.Devices) && a.From == b.From && a.To == b.To
}

// RevokeGrant ends a grant at now: blocks sealed from then on are not
// licensed to the partner. Revoking twice keeps the first revocation time.
func RevokeGrant(st State, caller Caller, applianceID, grantID string, now int64) (*Grant, error) {
	if _, err := mayLicense(st, caller, applianceID); err != nil {
		return nil, err
	}
	g, err := GetGrant(st, applianceID, grantID)
	if err != nil {
		return nil, err
	}
	if g.RevokedAt != 0 {
		return g, nil
	}
	g.RevokedAt = now
	return g, putGrant(st, g, EventGrantRevoked)
}

func putGrant(st State, g *Grant, event string) error {
	key, err := CompositeKey(keyGrant, g.ApplianceID, g.ID)
	if err != nil {
		return err
	}
	v, err := json.Marshal(g)
	if err != nil {
		return err
	}
	if err := st.PutState(key, v); err != nil {
		return err
	}
	return st.SetEvent(event, v)
}

// GetGrant returns one grant.
func GetGrant(st State, applianceID, grantID string) (*Grant, error) {
	key, err := CompositeKey(keyGrant, applianceID, grantID)
	if err != nil {
		return nil, err
	}
	v, err := st.GetState(key)
	if err != nil {
		return nil, fmt.Errorf("read grant %s: %w", grantID, err)
	}
	if v == nil {
		return nil, fmt.Errorf("%w: grant %s of appliance %s", ErrNotFound, grantID, applianceID)
	}
	var g Grant
	if err := json.Unmarshal(v, &g); err != nil {
		return nil, fmt.Errorf("grant %s: corrupt ledger record: %w", grantID, err)
	}
	if g.ApplianceID != applianceID || g.ID != grantID {
		return nil, fmt.Errorf("grant %s of appliance %s: the ledger record is grant %q of appliance %q", grantID, applianceID, g.ID, g.ApplianceID)
	}
	return &g, nil
}

// GrantPage is one page of grants.
type GrantPage struct {
	Grants   []*Grant `json:"grants"`
	Bookmark string   `json:"bookmark,omitempty"`
}

// ListGrants lists an appliance's grants, revoked ones included.
func ListGrants(st State, applianceID string, limit int, bookmark string) (*GrantPage, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	entries, next, err := st.ScanComposite(keyGrant, []string{applianceID}, limit, bookmark)
	if err != nil {
		return nil, err
	}
	page := &GrantPage{Bookmark: next}
	for _, e := range entries {
		var g Grant
		if err := json.Unmarshal(e.Value, &g); err != nil {
			return nil, fmt.Errorf("grant at %q: corrupt ledger record: %w", e.Key, err)
		}
		if k, err := CompositeKey(keyGrant, g.ApplianceID, g.ID); err != nil || k != e.Key {
			return nil, fmt.Errorf("grant at %q: the ledger record is grant %q of appliance %q", e.Key, g.ID, g.ApplianceID)
		}
		page.Grants = append(page.Grants, &g)
	}
	return page, nil
}
