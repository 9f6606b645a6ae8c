package seal_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/protocols"
)

// useV2 makes the chain's ingester write v2 polls from now on (an upgrade:
// earlier polls stay v1).
func (e *env) useV2(t *testing.T) {
	t.Helper()
	in, err := ingest.New(e.Store, appID, e.Key, nil, ingest.WithFormat(2))
	if err != nil {
		t.Fatal(err)
	}
	e.Ingester = in
}

// checkBlockV2 opens a v2 block with the owner key as a reader does and
// checks it holds exactly the stored readings.
func (e *env) checkBlockV2(t *testing.T, rec *store.BlockRecord) *block.OpenedV2 {
	t.Helper()
	raw, err := e.Store.Object(rec.Height)
	if err != nil {
		t.Fatal(err)
	}
	if envelope.Hash(raw) != rec.ObjectHash {
		t.Fatalf("block %d: stored object does not hash to the record's object hash", rec.Height)
	}
	if f, err := envelope.FormatOf(raw); err != nil || f != envelope.FormatV2 {
		t.Fatalf("block %d: object format %q (%v), want v2", rec.Height, f, err)
	}
	obj, err := envelope.ParseV2(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(obj.Header, rec.Header) || !bytes.Equal(obj.HeaderSig, rec.HeaderSig) {
		t.Fatalf("block %d: object header differs from the record", rec.Height)
	}
	if err := format.VerifyHeaderSig(e.Public, rec.Header, rec.HeaderSig); err != nil {
		t.Fatalf("block %d: %v", rec.Height, err)
	}
	ks, err := obj.KeySet(e.Owner)
	if err != nil {
		t.Fatalf("block %d: owner cannot unwrap the key set: %v", rec.Height, err)
	}
	nodes, err := keytree.ParseKeySet(ks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := envelope.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	o, err := block.OpenV2(obj, nodes, e.Public, c)
	if err != nil {
		t.Fatalf("block %d: OpenV2 refused a sealed block: %v", rec.Height, err)
	}
	if o.Header.Height != rec.Height || o.Header.FirstSeq != rec.FirstSeq || o.Header.LastSeq != rec.LastSeq {
		t.Fatalf("block %d: header %+v disagrees with the record", rec.Height, o.Header)
	}
	for k, p := range o.Polls {
		for j, b := range p.Raw {
			stored, err := e.Store.Reading(p.Record.FirstSeq + uint64(j))
			if err != nil || !bytes.Equal(stored, b) {
				t.Fatalf("block %d poll %d reading %d differs from the stored reading", rec.Height, k, j)
			}
		}
	}
	return o
}

// TestSealV2 seals v2 polls: whole polls, the chain linked, headers v2
// with the poll count and block root, and the owner opens every block.
func TestSealV2(t *testing.T) {
	e := newEnv(t)
	e.useV2(t)
	e.Ingest(t, 2, 3, 1, 4, 2)
	s := e.NewSealer(t, 5)
	got, err := s.Seal(true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ranges(got)) != "[[1 5] [6 10] [11 12]]" {
		t.Fatalf("sealed %v", ranges(got))
	}
	prev := ""
	for i, rec := range got {
		o := e.checkBlockV2(t, rec)
		h := o.Header
		if h.Version != format.HeaderV2 || h.Polls != uint64(len(o.Polls)) || fmt.Sprint(h.PrevHash) == prev {
			t.Fatalf("block %d header %+v", i, h)
		}
		if i > 0 && fmt.Sprintf("%x", h.PrevHash) != got[i-1].BlockID {
			t.Fatalf("block %d does not link to block %d", i, i-1)
		}
	}
	// dev-0 had polls 1, 3, 5 of the fixture: its indices 0, 1, 2 run on
	// across blocks.
	var idx []uint64
	for _, rec := range got {
		for _, p := range e.checkBlockV2(t, rec).Polls {
			if p.Record.DeviceID == "dev-0" {
				idx = append(idx, p.Record.PollIndex)
			}
		}
	}
	if !slices.Equal(idx, []uint64{0, 1, 2}) {
		t.Fatalf("dev-0 poll indices %v", idx)
	}
}

// TestSealNeverMixesFormats: v1 polls from before an upgrade end in v1
// blocks, even below the block size, and the first v2 poll starts a v2
// block; both kinds chain and open.
func TestSealNeverMixesFormats(t *testing.T) {
	e := newEnv(t)
	e.Ingest(t, 2, 1)
	e.useV2(t)
	e.Ingest(t, 1, 3, 2)
	s := e.NewSealer(t, 10)
	got, err := s.Seal(false)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ranges(got)) != "[[1 3]]" {
		t.Fatalf("Seal(false) sealed %v, want the v1 polls alone", ranges(got))
	}
	tail, err := s.Seal(true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ranges(tail)) != "[[4 9]]" {
		t.Fatalf("Seal(true) sealed %v", ranges(tail))
	}
	e.checkBlock(t, got[0])
	if h, _ := format.ParseHeader(got[0].Header); h.Version != format.HeaderV1 {
		t.Fatalf("v1 polls sealed in a version %d header", h.Version)
	}
	o := e.checkBlockV2(t, tail[0])
	if fmt.Sprintf("%x", o.Header.PrevHash) != got[0].BlockID {
		t.Fatal("the first v2 block does not link to the last v1 block")
	}
	// Default sealing of v1 polls stays v1 (the existing tests check the
	// contents); a v1 object is not a v2 one.
	raw, _ := e.Store.Object(0)
	if _, err := envelope.ParseV2(raw); err == nil {
		t.Fatal("a v1 block parsed as v2")
	}
}

// TestSealV2PollsOfOneTime: ingest splits a call's samples by appliance
// time into v2 polls, and each poll's section holds one time.
func TestSealV2PollsOfOneTime(t *testing.T) {
	e := newEnv(t)
	e.useV2(t)
	at := time.Unix(1_800_000_000, 0)
	samples := []protocols.Sample{
		{Point: "a", Value: 1.0, Quality: protocols.Good},
		{Point: "b", Value: 2.0, Quality: protocols.Good},
		{Point: "a", Value: 3.0, Quality: protocols.Good, Received: at.Add(time.Second)},
		{Point: "b", Value: true, Quality: protocols.Good, Received: at.Add(time.Second)},
	}
	e.IngestPoll(t, "press", at, samples...)
	got, err := e.NewSealer(t, 100).Seal(true)
	if err != nil || len(got) != 1 {
		t.Fatalf("Seal: %v, %v", ranges(got), err)
	}
	o := e.checkBlockV2(t, got[0])
	if len(o.Polls) != 2 || o.Polls[0].Time != at.UnixNano() || o.Polls[1].Time != at.Add(time.Second).UnixNano() {
		t.Fatalf("%d polls", len(o.Polls))
	}
	if o.Header.FirstTime != at.UnixNano() || o.Header.LastTime != at.Add(time.Second).UnixNano() {
		t.Fatal("header time range")
	}
}

// TestSealV2KeySetIsTheCover: the recipients' key set is, per device, the
// minimal cover of the device's polls in the block, and a grant's
// restriction of it opens exactly its polls.
func TestSealV2KeySetIsTheCover(t *testing.T) {
	e := newEnv(t)
	e.useV2(t)
	e.Ingest(t, 1, 1, 1, 1, 1, 1, 1, 1) // dev-0 polls 0..3, dev-1 polls 0..3
	got, err := e.NewSealer(t, 100).Seal(true)
	if err != nil || len(got) != 1 {
		t.Fatalf("Seal: %v, %v", ranges(got), err)
	}
	raw, _ := e.Store.Object(0)
	obj, err := envelope.ParseV2(raw)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := obj.KeySet(e.Owner)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := keytree.ParseKeySet(ks)
	if err != nil {
		t.Fatal(err)
	}
	// Polls 0..3 of each device: one node at level 38 per device.
	if len(nodes) != 2 || nodes[0].Level != keytree.Depth-2 || nodes[1].Level != keytree.Depth-2 {
		t.Fatalf("key set %+v, want one level-38 node per device", nodes)
	}
	grant, err := keytree.Restrict(nodes, "dev-1", []uint64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	c, err := envelope.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	o, err := block.OpenV2Partial(obj, grant, e.Public, c)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, r := range o.Readings() {
		seqs = append(seqs, r.Seq)
	}
	if !slices.Equal(seqs, []uint64{4, 6}) { // dev-1's polls are seqs 2, 4, 6, 8
		t.Fatalf("the grant opens seqs %v, want [4 6]", seqs)
	}
}

// TestSealV2RefusesReusedIndex: two polls of a device with one index
// would encrypt two sections under one key; the sealer refuses.
func TestSealV2RefusesReusedIndex(t *testing.T) {
	e := newEnv(t)
	e.useV2(t)
	e.Ingest(t, 1)
	_, rec, err := e.Store.PollAt(1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := reading.DecodePoll(rec)
	if err != nil {
		t.Fatal(err)
	}
	// A second poll of dev-0 stored with the same index (a broken ingest).
	r := &reading.Reading{ApplianceID: appID, DeviceID: "dev-0", Point: "x", ApplianceTime: 5, Seq: 2}
	if err := r.SetValue(1.0); err != nil {
		t.Fatal(err)
	}
	enc, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	dup := *p
	dup.FirstSeq, dup.LastSeq = 2, 2
	drec, err := reading.EncodePoll(&dup)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.CommitPoll(2, []store.StoredReading{{Seq: 2, Device: "dev-0", Point: "x", Time: 5, Encoded: enc}}, drec); err != nil {
		t.Fatal(err)
	}
	if _, err := e.NewSealer(t, 10).Seal(true); err == nil || !strings.Contains(err.Error(), "poll index 0 of \"dev-0\" after 0") {
		t.Fatalf("sealing two polls with one poll index: %v", err)
	}
}
