package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/chaincode/format"
)

// provenance names each block's signing key and flags the blocks anchored
// after their key's compromise: here the key rotates at block 2 and the old
// key is revoked as compromised between the anchoring of blocks 0 and 1.
func TestProvenanceKeys(t *testing.T) {
	clock := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	c := pipelinetest.New(t, pipelinetest.WithDevices("press"), pipelinetest.WithLedgerClock(func() time.Time { return clock }))
	ctx := context.Background()
	oldKey := format.KeyID(c.Public)
	c.Anchor(t, 5) // block 0 at 01:00
	clock = clock.Add(time.Hour)
	c.Anchor(t, 5) // block 1 at 02:00
	clock = clock.Add(time.Hour)
	if h := c.RotateKey(t); h != 2 {
		t.Fatalf("rotated at height %d", h)
	}
	newKey := format.KeyID(c.Public)
	c.Anchor(t, 5) // block 2, new key
	if _, err := c.Ledger.RevokeApplianceKey(ctx, c.ApplianceID, oldKey, clock.Add(-90*time.Minute), "stolen"); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := printProvenance(ctx, c.Ledger, "press", 0, 1<<62, false, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("provenance:\n%s", out.String())
	}
	flag := "SIGNED BY REVOKED KEY " + oldKey + " (compromised at 2026-12-08T01:30:00Z)"
	for i, want := range []struct {
		key     string
		flagged bool
	}{{oldKey, false}, {oldKey, true}, {newKey, false}} {
		l := lines[i]
		if !strings.Contains(l, "key "+want.key) || strings.Contains(l, flag) != want.flagged {
			t.Errorf("block %d: %q, want key %s flagged=%v", i, l, want.key, want.flagged)
		}
	}
	if !strings.Contains(lines[3], "3 blocks of press, 1 signed by a revoked key") {
		t.Errorf("summary %q", lines[3])
	}

	out.Reset()
	if err := printProvenance(ctx, c.Ledger, "press", 0, 1<<62, true, &out); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&out)
	for i, want := range []string{oldKey, oldKey, newKey} {
		var line struct {
			Height     uint64 `json:"height"`
			KeyID      string `json:"keyId"`
			AnchoredAt int64  `json:"anchoredAt"`
			RevokedKey *struct {
				CompromisedAt int64 `json:"compromisedAt"`
			} `json:"revokedKey"`
		}
		if err := dec.Decode(&line); err != nil {
			t.Fatal(err)
		}
		if line.Height != uint64(i) || line.KeyID != want || line.AnchoredAt == 0 || (line.RevokedKey != nil) != (i == 1) {
			t.Errorf("JSON line %d: %+v", i, line)
		}
	}
}

// fabricSigned lists a ledger's credentials as anchored by a Fabric client
// identity, whose id is base64 of "x509::<subject>::<issuer>".
type fabricSigned struct {
	provenanceLedger
	msp, id string
}

func (l fabricSigned) ListByDevice(ctx context.Context, device string, from, to int64, limit int, bookmark string) (*format.Page, error) {
	p, err := l.provenanceLedger.ListByDevice(ctx, device, from, to, limit, bookmark)
	if err == nil {
		for _, c := range p.Credentials {
			c.SignerMSP, c.SignerID = l.msp, l.id
		}
	}
	return p, err
}

// provenance shows who anchored a block by MSP and certificate subject, and
// --json keeps the raw id.
func TestProvenanceShowsIdentityBySubject(t *testing.T) {
	c := pipelinetest.New(t, pipelinetest.WithDevices("press"))
	c.Anchor(t, 3)
	id := base64.StdEncoding.EncodeToString([]byte("x509::CN=User1@manufacturer.wotchain.local,OU=client,L=San Francisco,ST=California,C=US::CN=ca.manufacturer.wotchain.local,O=manufacturer.wotchain.local,L=San Francisco,ST=California,C=US"))
	l := fabricSigned{c.Ledger, "ManufacturerMSP", id}
	var out bytes.Buffer
	if err := printProvenance(context.Background(), l, "press", 0, 1<<62, false, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), " by ManufacturerMSP/User1@manufacturer.wotchain.local") || strings.Contains(out.String(), id[:20]) {
		t.Fatalf("provenance:\n%s", out.String())
	}
	out.Reset()
	if err := printProvenance(context.Background(), l, "press", 0, 1<<62, true, &out); err != nil {
		t.Fatal(err)
	}
	var line struct {
		SignerMSP string `json:"signerMsp"`
		SignerID  string `json:"signerId"`
	}
	if err := json.NewDecoder(&out).Decode(&line); err != nil {
		t.Fatal(err)
	}
	if line.SignerID != id {
		t.Fatalf("--json signer %+v, want the raw id %s", line, id)
	}
}
