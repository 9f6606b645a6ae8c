package rules

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/chaincode/format"
)

// fabricState behaves like a Fabric transaction over a memState: GetState
// sees committed state only (not the transaction's own writes), writes and
// the one event apply on commit.
type fabricState struct {
	*memState
	pending map[string][]byte
	event   *string
	payload []byte
}

func newFabricState(m *memState) *fabricState {
	return &fabricState{memState: m, pending: map[string][]byte{}}
}

func (f *fabricState) PutState(key string, value []byte) error {
	f.pending[key] = slices.Clone(value)
	return nil
}

func (f *fabricState) SetEvent(name string, payload []byte) error {
	if f.event != nil {
		return fmt.Errorf("second event %s in one transaction", name)
	}
	f.event, f.payload = &name, slices.Clone(payload)
	return nil
}

func (f *fabricState) commit() {
	maps.Copy(f.memState.kv, f.pending)
	if f.event != nil {
		f.memState.events = append(f.memState.events, *f.event)
		f.memState.payloads = append(f.memState.payloads, f.payload)
	}
}

// linked returns n headers linked from prev, starting at height from.
func linked(t *testing.T, from uint64, prev []byte, n int, opts func(height uint64) hdrOpts) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		h := from + uint64(i)
		o := hdrOpts{}
		if opts != nil {
			o = opts(h)
		}
		o.height, o.prev = h, prev
		hb := header(t, o)
		out = append(out, hb)
		prev = prevOf(hb)
	}
	return out
}

func (w *world) subs(hdrs [][]byte, firstObj int) []format.Submission {
	var out []format.Submission
	for i, hb := range hdrs {
		out = append(out, w.sub(hb, firstObj+i))
	}
	return out
}

// batchEvent decodes the single BlocksAnchored event st holds to heights.
func batchEvent(t *testing.T, st *memState) []*format.Credential {
	t.Helper()
	if !slices.Equal(st.events, []string{EventBlocksAnchored}) {
		t.Fatalf("events %v, want one %s", st.events, EventBlocksAnchored)
	}
	var creds []*format.Credential
	if err := json.Unmarshal(st.payloads[0], &creds); err != nil {
		t.Fatalf("event payload: %v", err)
	}
	return creds
}

// A batch on Fabric-like state records exactly what the same blocks
// submitted one by one record, and announces them in one event. Block N+1
// finds block N only through the rules' overlay: Fabric's GetState does not
// see the transaction's own writes.
func TestRecordCredentialsMatchesSingles(t *testing.T) {
	batch := newWorld(t)
	single := &world{st: newMemState(), pub: batch.pub, priv: batch.priv}
	if err := RegisterAppliance(single.st, policy, admin, Appliance{ID: appID, PublicKey: batch.pub, AnchorMSP: anchor.MSPID, AnchorID: anchor.ID, OwnerMSP: "OwnerMSP"}); err != nil {
		t.Fatal(err)
	}
	devs := [][]string{{"oven", "press"}, {"press"}, {"oven"}, {"press"}, {"oven", "press"}}
	hdrs := linked(t, 0, nil, 5, func(h uint64) hdrOpts { return hdrOpts{devices: devs[h]} })
	subs := batch.subs(hdrs, 0)

	var want []*format.Credential
	for _, s := range subs {
		c, recorded, err := RecordCredential(single.st, anchor, s)
		if err != nil || !recorded {
			t.Fatalf("single: recorded=%v err=%v", recorded, err)
		}
		want = append(want, c)
	}

	fst := newFabricState(batch.st)
	out, err := RecordCredentials(fst, anchor, subs)
	if err != nil {
		t.Fatalf("RecordCredentials: %v", err)
	}
	fst.commit()
	if len(out) != len(subs) {
		t.Fatalf("%d results for %d submissions", len(out), len(subs))
	}
	for i, a := range out {
		if !a.Recorded || !sameJSON(a.Credential, want[i]) {
			t.Fatalf("result %d: recorded=%v %+v, want %+v", i, a.Recorded, a.Credential, want[i])
		}
	}
	if !maps.Equal(batch.st.snapshot(), single.st.snapshot()) {
		t.Fatal("the batch wrote a different state than the same blocks one by one")
	}
	creds := batchEvent(t, batch.st)
	if len(creds) != 5 {
		t.Fatalf("event holds %d credentials, want 5", len(creds))
	}
	for i, c := range creds {
		if !sameJSON(c, want[i]) {
			t.Fatalf("event credential %d: %+v, want %+v", i, c, want[i])
		}
	}
	if _, err := CredentialAt(batch.st, appID, 4); err != nil {
		t.Fatalf("block 4 after the batch: %v", err)
	}
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// Blocks already on the ledger come back with Recorded=false and are left
// out of the event; a batch of only such blocks writes nothing and emits none.
func TestRecordCredentialsIdempotentMix(t *testing.T) {
	w := newWorld(t)
	hdrs := w.chain(t, 2, nil) // 0 and 1 recorded one by one
	w.st.events, w.st.payloads = nil, nil
	more := linked(t, 2, prevOf(hdrs[1]), 2, nil)
	subs := append([]format.Submission{w.sub(hdrs[1], 1)}, w.subs(more, 2)...)

	recorded1, _ := GetCredential(w.st, format.BlockID(hdrs[1]))
	fst := newFabricState(w.st)
	out, err := RecordCredentials(fst, anchor, subs)
	if err != nil {
		t.Fatalf("RecordCredentials: %v", err)
	}
	fst.commit()
	var got []bool
	for _, a := range out {
		got = append(got, a.Recorded)
	}
	if !slices.Equal(got, []bool{false, true, true}) {
		t.Fatalf("recorded %v, want [false true true]", got)
	}
	if !sameJSON(out[0].Credential, recorded1) {
		t.Fatalf("re-submitted block 1 returned %+v, want the recorded %+v", out[0].Credential, recorded1)
	}
	creds := batchEvent(t, w.st)
	if len(creds) != 2 || creds[0].Height != 2 || creds[1].Height != 3 {
		t.Fatalf("event holds %d credentials (%+v), want heights 2 and 3", len(creds), creds)
	}

	// Everything again: nothing written, no event.
	before := w.st.snapshot()
	all := append(w.subs(hdrs, 0), w.subs(more, 2)...)
	fst = newFabricState(w.st)
	out, err = RecordCredentials(fst, anchor, all)
	if err != nil {
		t.Fatalf("re-submission: %v", err)
	}
	for i, a := range out {
		if a.Recorded || a.Credential.Height != uint64(i) {
			t.Fatalf("re-submission result %d: recorded=%v height %d", i, a.Recorded, a.Credential.Height)
		}
	}
	if len(fst.pending) != 0 || fst.event != nil {
		t.Fatalf("re-submission wrote %d keys, event %v", len(fst.pending), fst.event)
	}
	fst.commit()
	if !maps.Equal(before, w.st.snapshot()) {
		t.Fatal("re-submission changed the state")
	}
}

func TestRecordCredentialsRefused(t *testing.T) {
	w := newWorld(t)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	hdrs := w.chain(t, 2, nil) // heights 0 and 1 recorded
	next := linked(t, 2, prevOf(hdrs[1]), 3, nil)
	good := w.subs(next, 2) // heights 2, 3, 4

	with := func(i int, edit func(*format.Submission)) []format.Submission {
		s := slices.Clone(good)
		edit(&s[i])
		return s
	}
	// A block 3 that links to block 0 instead of block 2 of the batch.
	h3Bad := header(t, hdrOpts{height: 3, prev: prevOf(hdrs[0])})
	h2Other := header(t, hdrOpts{height: 2, prev: prevOf(hdrs[1]), rootByte: 9})
	unknown := linked(t, 0, nil, 2, func(uint64) hdrOpts { return hdrOpts{app: "app-2"} })
	tooBig := linked(t, 2, prevOf(hdrs[1]), 9, func(uint64) hdrOpts {
		var devs []string
		for d := range 2000 {
			devs = append(devs, fmt.Sprintf("device-%05d-with-a-long-name", d))
		}
		return hdrOpts{devices: devs}
	})
	cases := []struct {
		name   string
		caller Caller
		subs   []format.Submission
		want   error
		msg    string // the error names the block
	}{
		{"other identity", Caller{MSPID: anchor.MSPID, ID: "someone"}, good, ErrForbidden, "block 2"},
		{"manufacturer admin", admin, good, ErrForbidden, "block 2"},
		{"unknown appliance", anchor, w.subs(unknown, 0), ErrUnknownAppliance, "block 0"},
		{"bad signature in the middle", anchor, with(1, func(s *format.Submission) { s.HeaderSig = format.SignHeader(otherPriv, s.Header) }), ErrBadSignature, "block 3"},
		{"broken link inside the batch", anchor, []format.Submission{good[0], w.sub(h3Bad, 3)}, ErrBrokenChain, "block 3"},
		{"first block does not link to the ledger", anchor, w.subs(linked(t, 2, prevOf(hdrs[0]), 2, nil), 2), ErrBrokenChain, "block 2"},
		{"predecessor missing", anchor, good[1:], ErrBrokenChain, "block 3"},
		{"recorded block with other object", anchor, append([]format.Submission{w.sub(hdrs[1], 77)}, good...), ErrConflict, "block 1"},
		{"other block at an occupied height", anchor, w.subs(linked(t, 1, prevOf(hdrs[0]), 2, func(uint64) hdrOpts { return hdrOpts{rootByte: 9} }), 1), ErrConflict, "block 1"},
		{"invalid object hash last", anchor, with(2, func(s *format.Submission) { s.ObjectHash = strings.ToUpper(objHash(0xabc)) }), ErrInvalid, "block 4"},
		{"empty location", anchor, with(1, func(s *format.Submission) { s.Location = "" }), ErrInvalid, "block 3"},
		{"same block twice", anchor, []format.Submission{good[0], good[0]}, ErrInvalid, "batch entry 1 is block 2"},
		{"same height, other block", anchor, []format.Submission{good[0], w.sub(h2Other, 9)}, ErrInvalid, "batch entry 1 is block 2"},
		{"gap", anchor, []format.Submission{good[0], good[2]}, ErrInvalid, "batch entry 1 is block 4"},
		{"descending", anchor, []format.Submission{good[1], good[0]}, ErrInvalid, "batch entry 1 is block 2"},
		{"two appliances", anchor, []format.Submission{w.sub(hdrs[0], 0), w.sub(unknown[1], 1)}, ErrInvalid, "app-2"},
		{"garbage header", anchor, with(1, func(s *format.Submission) { s.Header = []byte("x") }), ErrInvalid, "batch entry 1"},
		{"empty", anchor, nil, ErrInvalid, "empty batch"},
		{"too many", anchor, slices.Repeat(good[:1], format.MaxBatchCount+1), ErrInvalid, fmt.Sprintf("limit of %d", format.MaxBatchCount)},
		{"too many bytes", anchor, w.subs(tooBig, 2), ErrInvalid, fmt.Sprintf("limit of %d", format.MaxBatchBytes)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.st.snapshot()
			events := len(w.st.events)
			fst := newFabricState(w.st)
			out, err := RecordCredentials(fst, c.caller, c.subs)
			if !errors.Is(err, c.want) {
				t.Fatalf("RecordCredentials: %v (results %v), want %v", err, out, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
			if out != nil || len(fst.pending) != 0 || fst.event != nil {
				t.Fatalf("refused batch returned %v, wrote %d keys, event %v", out, len(fst.pending), fst.event)
			}
			fst.commit()
			if !maps.Equal(before, w.st.snapshot()) || len(w.st.events) != events {
				t.Fatal("refused batch changed the state")
			}
		})
	}

	// Refused batches on a State that applies writes at once (the in-memory
	// one) leave nothing behind either: the overlay writes only on success.
	before := w.st.snapshot()
	if _, err := RecordCredentials(w.st, anchor, with(2, func(s *format.Submission) { s.HeaderSig = format.SignHeader(otherPriv, s.Header) })); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bad last block: %v", err)
	}
	if !maps.Equal(before, w.st.snapshot()) {
		t.Fatal("a refused batch left blocks 2 and 3 behind")
	}

	// After all that, the proper batch is accepted.
	if out, err := RecordCredentials(w.st, anchor, good); err != nil || len(out) != 3 || !out[2].Recorded {
		t.Fatalf("good batch: %v, %v", out, err)
	}
}

func TestRecordCredentialsAtCountLimit(t *testing.T) {
	w := newWorld(t)
	hdrs := linked(t, 0, nil, format.MaxBatchCount, nil)
	out, err := RecordCredentials(w.st, anchor, w.subs(hdrs, 0))
	if err != nil || len(out) != format.MaxBatchCount {
		t.Fatalf("batch of %d: %d results, %v", format.MaxBatchCount, len(out), err)
	}
	if creds := batchEvent(t, w.st); len(creds) != format.MaxBatchCount || creds[format.MaxBatchCount-1].Height != format.MaxBatchCount-1 {
		t.Fatalf("event holds %d credentials", len(creds))
	}
}
