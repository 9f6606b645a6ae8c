package seal_test

import (
	"bytes"
	"crypto/hpke"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

const appID = pipelinetest.ApplianceID

// env is a chain whose tests make their own sealers (block sizes, restarts).
type env struct{ *pipelinetest.Chain }

func newEnv(t *testing.T) *env { return &env{pipelinetest.New(t)} }

func (e *env) isPollStart(seq uint64) bool {
	for _, p := range e.Polls {
		if p[0] == seq {
			return true
		}
	}
	return false
}

func (e *env) isPollEnd(seq uint64) bool {
	for _, p := range e.Polls {
		if p[1] == seq {
			return true
		}
	}
	return false
}

func ranges(recs []*store.BlockRecord) [][2]uint64 {
	out := make([][2]uint64, len(recs))
	for i, r := range recs {
		out[i] = [2]uint64{r.FirstSeq, r.LastSeq}
	}
	return out
}

// checkBlock decrypts a sealed block with the owner key and opens it.
func (e *env) checkBlock(t *testing.T, rec *store.BlockRecord) *block.Opened {
	t.Helper()
	obj, err := e.Store.Object(rec.Height)
	if err != nil {
		t.Fatal(err)
	}
	if envelope.Hash(obj) != rec.ObjectHash {
		t.Fatalf("block %d: stored object does not hash to the record's object hash", rec.Height)
	}
	o, err := envelope.Parse(obj)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(o.Header, rec.Header) || !bytes.Equal(o.HeaderSig, rec.HeaderSig) {
		t.Fatalf("block %d: object header differs from the record", rec.Height)
	}
	plain, err := o.Open(e.Owner)
	if err != nil {
		t.Fatalf("block %d: owner cannot decrypt: %v", rec.Height, err)
	}
	body, err := block.ParseBody(plain)
	if err != nil {
		t.Fatal(err)
	}
	h, err := format.ParseHeader(rec.Header)
	if err != nil {
		t.Fatalf("block %d: header: %v", rec.Height, err)
	}
	if err := format.VerifyHeaderSig(e.Public, rec.Header, rec.HeaderSig); err != nil {
		t.Fatalf("block %d: %v", rec.Height, err)
	}
	if format.BlockID(rec.Header) != rec.BlockID || h.Height != rec.Height || h.FirstSeq != rec.FirstSeq || h.LastSeq != rec.LastSeq {
		t.Fatalf("block %d: record %+v disagrees with header %+v", rec.Height, rec, h)
	}
	opened, err := block.Open(h, body, e.Public)
	if err != nil {
		t.Fatalf("block %d: block.Open refused a sealed block: %v", rec.Height, err)
	}
	for i, raw := range body.Readings {
		stored, err := e.Store.Reading(rec.FirstSeq + uint64(i))
		if err != nil || !bytes.Equal(stored, raw) {
			t.Fatalf("block %d reading %d differs from the stored reading", rec.Height, i)
		}
	}
	return opened
}

// checkChain asserts every stored block: consecutive heights, prev links,
// consecutive seq ranges, whole polls, and contents.
func (e *env) checkChain(t *testing.T, max int) []*store.BlockRecord {
	t.Helper()
	var all []*store.BlockRecord
	if err := e.Store.Blocks(0, func(r *store.BlockRecord) (bool, error) { all = append(all, r); return true, nil }); err != nil {
		t.Fatal(err)
	}
	var prevID string
	next := uint64(1)
	for i, rec := range all {
		if rec.Height != uint64(i) {
			t.Fatalf("block %d has height %d", i, rec.Height)
		}
		if rec.State != store.Sealed {
			t.Fatalf("new block %d is %s", i, rec.State)
		}
		h, err := format.ParseHeader(rec.Header)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(h.PrevHash) != prevID {
			t.Fatalf("block %d PrevHash %x, previous block id %s", i, h.PrevHash, prevID)
		}
		if rec.FirstSeq != next {
			t.Fatalf("block %d starts at %d, want %d", i, rec.FirstSeq, next)
		}
		if !e.isPollStart(rec.FirstSeq) || !e.isPollEnd(rec.LastSeq) {
			t.Fatalf("block %d (%d..%d) splits a poll (polls %v)", i, rec.FirstSeq, rec.LastSeq, e.Polls)
		}
		if n := rec.LastSeq - rec.FirstSeq + 1; n > uint64(max) {
			// Only a single poll may exceed the limit.
			o := e.checkBlock(t, rec)
			if len(o.Polls) != 1 {
				t.Fatalf("block %d has %d readings > max %d in %d polls", i, n, max, len(o.Polls))
			}
		}
		e.checkBlock(t, rec)
		prevID = rec.BlockID
		next = rec.LastSeq + 1
	}
	return all
}

func TestSealWholePollsAndMax(t *testing.T) {
	cases := []struct {
		name       string
		max        int
		polls      []int
		noFlush    [][2]uint64 // blocks sealed by Seal(false)
		flushAfter [][2]uint64 // blocks then sealed by Seal(true)
	}{
		{"full blocks and a tail", 5, []int{2, 3, 1, 4, 2}, [][2]uint64{{1, 5}, {6, 10}}, [][2]uint64{{11, 12}}},
		{"poll would straddle the limit", 5, []int{3, 3, 3}, [][2]uint64{{1, 3}, {4, 6}}, [][2]uint64{{7, 9}}},
		{"exactly full at the end", 4, []int{1, 3}, [][2]uint64{{1, 4}}, nil},
		{"oversized poll gets its own block", 3, []int{2, 5, 1}, [][2]uint64{{1, 2}, {3, 7}}, [][2]uint64{{8, 8}}},
		{"oversized poll first", 3, []int{7, 1, 1}, [][2]uint64{{1, 7}}, [][2]uint64{{8, 9}}},
		{"oversized poll last", 3, []int{1, 6}, [][2]uint64{{1, 1}, {2, 7}}, nil},
		{"max one", 1, []int{1, 1, 2}, [][2]uint64{{1, 1}, {2, 2}, {3, 4}}, nil},
		{"only a partial block", 10, []int{2, 2}, nil, [][2]uint64{{1, 4}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.NewSealer(t, c.max)
			e.Ingest(t, c.polls...)
			got, err := s.Seal(false)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ranges(got)) != fmt.Sprint(c.noFlush) {
				t.Fatalf("Seal(false) sealed %v, want %v", ranges(got), c.noFlush)
			}
			if again, err := s.Seal(false); err != nil || len(again) != 0 {
				t.Fatalf("second Seal(false) sealed %v, %v", ranges(again), err)
			}
			got, err = s.Seal(true)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ranges(got)) != fmt.Sprint(c.flushAfter) {
				t.Fatalf("Seal(true) sealed %v, want %v", ranges(got), c.flushAfter)
			}
			if again, err := s.Seal(true); err != nil || len(again) != 0 {
				t.Fatalf("Seal(true) with nothing pending sealed %v, %v", ranges(again), err)
			}
			all := e.checkChain(t, c.max)
			if last := all[len(all)-1]; last.LastSeq != e.Polls[len(e.Polls)-1][1] {
				t.Fatalf("after flushing, readings up to %d are sealed, ingested up to %d", last.LastSeq, e.Polls[len(e.Polls)-1][1])
			}
			if out, _ := e.Store.Outbox(); len(out) != len(all) {
				t.Fatalf("outbox holds %d blocks, %d sealed", len(out), len(all))
			}
		})
	}
}

func TestSealChainsAcrossCallsAndRestarts(t *testing.T) {
	e := newEnv(t)
	e.Ingest(t, 2, 1)
	if _, err := e.NewSealer(t, 3).Seal(true); err != nil {
		t.Fatal(err)
	}
	e.Ingest(t, 4)
	// A new sealer (appliance restart) continues the chain from the store.
	if _, err := e.NewSealer(t, 3).Seal(true); err != nil {
		t.Fatal(err)
	}
	e.Ingest(t, 1, 1, 1, 1)
	recs, err := e.NewSealer(t, 3).Seal(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Height != 2 || recs[1].Height != 3 {
		t.Fatalf("third round sealed %v", ranges(recs))
	}
	all := e.checkChain(t, 3)
	if len(all) != 4 {
		t.Fatalf("%d blocks, want 4", len(all))
	}
	// Block ids are distinct and the header encodes exactly the id chain.
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.BlockID] {
			t.Fatal("two blocks share an id")
		}
		seen[r.BlockID] = true
	}
}

func TestSealedHeaderSummarisesReadings(t *testing.T) {
	e := newEnv(t)
	e.Ingest(t, 2, 3)
	recs, err := e.NewSealer(t, 10).Seal(true)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Seal: %v, %v", ranges(recs), err)
	}
	h, _ := format.ParseHeader(recs[0].Header)
	if fmt.Sprint(h.Devices) != "[dev-0 dev-1]" || h.Count != 5 || h.ApplianceID != appID || h.Height != 0 || len(h.PrevHash) != 0 {
		t.Fatalf("header %+v", h)
	}
	first, _ := e.Store.Reading(1)
	last, _ := e.Store.Reading(5)
	r1, _ := reading.Decode(first)
	r5, _ := reading.Decode(last)
	if h.FirstTime != r1.ApplianceTime || h.LastTime != r5.ApplianceTime || h.FirstTime == h.LastTime {
		t.Fatalf("header time range %d..%d, readings %d..%d", h.FirstTime, h.LastTime, r1.ApplianceTime, r5.ApplianceTime)
	}
	o := e.checkBlock(t, recs[0])
	if len(o.Polls) != 2 {
		t.Fatalf("block holds %d polls, want 2", len(o.Polls))
	}
}

func TestSealObjectNotForOthers(t *testing.T) {
	e := newEnv(t)
	e.Ingest(t, 1)
	recs, err := e.NewSealer(t, 1).Seal(true)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := e.Store.Object(recs[0].Height)
	o, _ := envelope.Parse(obj)
	other := pipelinetest.NewKey(t, keys.KEMX25519)
	if _, err := o.Open(other); err == nil {
		t.Fatal("a non-recipient decrypted the block")
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	if _, err := seal.New(e.Store, appID, e.Key, []hpke.PublicKey{e.Owner.PublicKey()}, 0); err == nil {
		t.Fatal("max readings 0 accepted")
	}
	if _, err := seal.New(e.Store, appID, e.Key, nil, 10); err == nil {
		t.Fatal("no recipients accepted")
	}
}

// Each block records the id of the key that signed it, and a sealer with
// another key (after a rotation) records its own.
func TestSealRecordsSigningKeyID(t *testing.T) {
	for _, format2 := range []int{1, 2} {
		e := &env{pipelinetest.New(t, pipelinetest.WithFormat(format2))}
		e.Ingest(t, 2)
		recs, err := e.NewSealer(t, 10).Seal(true)
		if err != nil || len(recs) != 1 {
			t.Fatalf("v%d: sealed %d blocks, %v", format2, len(recs), err)
		}
		got, err := e.Store.Block(recs[0].Height)
		if err != nil || got.KeyID != format.KeyID(e.Public) {
			t.Fatalf("v%d: block key id %q, %v; want %s", format2, got.KeyID, err, format.KeyID(e.Public))
		}
	}
	if _, err := seal.New(nil, appID, nil, []hpke.PublicKey{pipelinetest.NewKey(t, keys.KEMX25519).PublicKey()}, 10); err == nil {
		t.Fatal("a sealer without a signing key was made")
	}
}
