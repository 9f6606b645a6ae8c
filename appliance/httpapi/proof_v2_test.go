package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/chaincode/format"
)

// TestProofV2 serves the proofs of a store upgraded in place: v1 blocks,
// then (ingest switched to v2) v2 blocks. Every reading's bundle verifies;
// a v2 block's bundle is a v2 bundle without the v1 fields; the opened v2
// block is cached like a v1 block.
func TestProofV2(t *testing.T) {
	c := newChain(t, 3, 2, 4)
	in, err := ingest.New(c.Store, c.ApplianceID, c.Key, nil, ingest.WithFormat(2))
	if err != nil {
		t.Fatal(err)
	}
	c.Ingester = in
	c.Anchor(t, 1, 5, 2, 3)
	e := &env{c: c, dev: &fakeDevices{}}
	e.srv = New(Options{ApplianceID: appID, Store: c.Store, Devices: e.dev, OwnerKey: c.Owner, Logger: slog.New(slog.DiscardHandler)})

	last, err := c.Store.LastBlock()
	if err != nil {
		t.Fatal(err)
	}
	versions := map[uint8]int{}
	for h := uint64(0); h <= last.Height; h++ {
		rec := c.Block(t, h)
		hd, err := format.ParseHeader(rec.Header)
		if err != nil {
			t.Fatal(err)
		}
		versions[hd.Version]++
		for seq := rec.FirstSeq; seq <= rec.LastSeq; seq++ {
			res := e.get(t, fmt.Sprintf("/api/blocks/%s/proof?seq=%d", rec.BlockID, seq))
			if res.Code != http.StatusOK {
				t.Fatalf("block %d reading %d: %d %s", h, seq, res.Code, res.Body)
			}
			var fields map[string]json.RawMessage
			var b verify.ProofBundle
			if err := json.Unmarshal(res.Body.Bytes(), &fields); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(res.Body.Bytes(), &b); err != nil {
				t.Fatal(err)
			}
			_, v1Fields := fields["poll_leaf_hashes"]
			_, salt := fields["salt"]
			if v2 := hd.Version == format.HeaderV2; v1Fields == v2 || salt != v2 || (b.Version == verify.BundleV2) != v2 {
				t.Fatalf("block %d (v%d): bundle version %d with fields %v", h, hd.Version, b.Version, fields)
			}
			r, err := verify.VerifyProof(&b, c.Public)
			if err != nil {
				t.Fatalf("block %d reading %d: %v", h, seq, err)
			}
			if want := c.Readings[seq-1]; r.Seq != seq || r.DeviceID != want.Device || r.Value() != want.Value {
				t.Fatalf("verified %+v, ingested %+v", r, want)
			}
		}
	}
	if versions[format.HeaderV1] == 0 || versions[format.HeaderV2] < 2 {
		t.Fatalf("blocks per header version %v", versions)
	}

	// The last (v2) block is cached: with the owner key swapped for a
	// stranger's it is still served, while an uncached block is not.
	rec := c.Block(t, last.Height)
	if e.srv.blocks.get(rec.BlockID) == nil {
		t.Fatal("the v2 block was not cached")
	}
	e.srv.opts.OwnerKey = pipelinetest.NewKey(t, keys.KEMX25519)
	if res := e.get(t, fmt.Sprintf("/api/blocks/%s/proof?seq=%d", rec.BlockID, rec.FirstSeq)); res.Code != http.StatusOK {
		t.Fatalf("cached v2 block: %d %s", res.Code, res.Body)
	}
	e.srv.blocks = newBlockCache(1)
	if res := e.get(t, fmt.Sprintf("/api/blocks/%s/proof?seq=%d", rec.BlockID, rec.FirstSeq)); res.Code == http.StatusOK {
		t.Fatal("an uncached v2 block opened with a stranger's key")
	}
}
