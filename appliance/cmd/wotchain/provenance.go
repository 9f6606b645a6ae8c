package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// provenanceLedger is what `provenance` reads: a device's credentials and
// the key history of their appliances.
type provenanceLedger interface {
	ListByDevice(ctx context.Context, device string, from, to int64, limit int, bookmark string) (*format.Page, error)
	Appliance(ctx context.Context, id string) (*rules.Appliance, error)
}

// provenanceLine is one credential of `provenance --json`: the credential,
// its keyId resolved from the key history when the ledger recorded none
// (credentials from before key history), and the revocation of its key
// when it was compromised before the block was anchored.
type provenanceLine struct {
	*format.Credential
	RevokedKey *revokedKey `json:"revokedKey,omitempty"`
}

type revokedKey struct {
	CompromisedAt int64  `json:"compromisedAt"`
	RevokedAt     int64  `json:"revokedAt"`
	Reason        string `json:"reason"`
}

// printProvenance lists the credentials of device's blocks overlapping
// [from, to] (Unix ns), each with the id of the key that signed it, and
// flags a block signed by a key compromised before its anchoring (or at an
// unknown time): verify fails such a block at "signing key".
func printProvenance(ctx context.Context, l provenanceLedger, device string, from, to int64, asJSON bool, stdout io.Writer) error {
	enc := json.NewEncoder(stdout)
	apps := map[string]*rules.Appliance{}
	count, flagged := 0, 0
	for bookmark := ""; ; {
		page, err := l.ListByDevice(ctx, device, from, to, 100, bookmark)
		if err != nil {
			return err
		}
		for _, c := range page.Credentials {
			count++
			app, ok := apps[c.ApplianceID]
			if !ok {
				if app, err = l.Appliance(ctx, c.ApplianceID); err != nil {
					return fmt.Errorf("key history of appliance %s: %w", c.ApplianceID, err)
				}
				apps[c.ApplianceID] = app
			}
			line := provenanceLine{Credential: c}
			keyNote := ""
			if k, err := verify.KeyOf(app, c.KeyID, c.Height); err != nil {
				keyNote = "  KEY UNKNOWN: " + err.Error()
			} else {
				resolved := *c
				resolved.KeyID = k.ID
				line.Credential = &resolved
				keyNote = "  key " + k.ID
				if ok, _ := verify.CheckSigningKey(k, c.AnchoredAt); !ok {
					flagged++
					line.RevokedKey = &revokedKey{CompromisedAt: k.CompromisedAt, RevokedAt: k.RevokedAt, Reason: k.RevokeReason}
					keyNote += fmt.Sprintf("  SIGNED BY REVOKED KEY %s (compromised at %s)", k.ID, time.Unix(0, k.CompromisedAt).UTC().Format(time.RFC3339Nano))
				}
			}
			if asJSON {
				if err := enc.Encode(line); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(stdout, "%s  %s #%d  %s .. %s  %d readings  root %s  object %s  by %s%s\n", c.BlockID[:16], c.ApplianceID, c.Height,
				time.Unix(0, c.FirstTime).UTC().Format(time.RFC3339), time.Unix(0, c.LastTime).UTC().Format(time.RFC3339),
				c.Count, c.MerkleRoot[:16], c.ObjectHash[:16], rules.IdentityName(c.SignerMSP, c.SignerID), keyNote)
		}
		if bookmark = page.Bookmark; bookmark == "" {
			break
		}
	}
	if !asJSON {
		fmt.Fprintf(stdout, "%d blocks of %s", count, device)
		if flagged > 0 {
			fmt.Fprintf(stdout, ", %d signed by a revoked key", flagged)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}
