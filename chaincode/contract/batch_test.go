package contract

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/wire"
)

func (f *fixture) anchorBatch(who identity, subs []format.Submission) ([]wire.Anchored, error) {
	f.t.Helper()
	b, _ := json.Marshal(subs)
	var out []wire.Anchored
	err := f.result(f.w.invoke(f.cc, who, wire.TxRecordCredentials, string(b)), &out)
	return out, err
}

// chainFrom builds n linked submissions from height, after the block prev.
func (f *fixture) chainFrom(height uint64, prev []byte, n int) []format.Submission {
	var out []format.Submission
	for i := range n {
		s := f.submission(height+uint64(i), prev, "dev-a")
		out = append(out, s)
		prev = mustHex(f.t, format.BlockID(s.Header))
	}
	return out
}

// The fake stub's GetState sees committed state only, as on Fabric, so the
// batch's blocks link to each other only through the rules' overlay; and it
// refuses a second event, so the batch must announce itself once.
func TestRecordCredentialsBatch(t *testing.T) {
	f := newFixture(t)
	if err := f.register(f.admin, f.appliance()); err != nil {
		t.Fatal(err)
	}
	subs := f.chainFrom(0, nil, 4)
	if _, err := f.anchorBlock(f.anchor, subs[0]); err != nil {
		t.Fatal(err)
	}

	out, err := f.anchorBatch(f.anchor, subs) // block 0 again, then 1..3
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	var recorded []bool
	for i, a := range out {
		recorded = append(recorded, a.Recorded)
		if a.Credential == nil || a.Credential.BlockID != format.BlockID(subs[i].Header) || a.Credential.SignerID != idOf(t, f.anchor) {
			t.Fatalf("result %d: %+v", i, a.Credential)
		}
	}
	if !slices.Equal(recorded, []bool{false, true, true, true}) {
		t.Fatalf("recorded %v, want [false true true true]", recorded)
	}
	stub := f.w.last
	if !slices.Equal(stub.events, []string{rules.EventBlocksAnchored}) {
		t.Fatalf("events %v, want one %s", stub.events, rules.EventBlocksAnchored)
	}
	var creds []format.Credential
	if err := json.Unmarshal(stub.payloads[0], &creds); err != nil {
		t.Fatalf("event payload: %v", err)
	}
	if len(creds) != 3 || creds[0].Height != 1 || creds[2].Height != 3 {
		t.Fatalf("event announces %+v, want blocks 1..3", creds)
	}
	var at format.Credential
	if err := f.result(f.w.invoke(f.cc, f.anchor, wire.TxCredentialAt, "app-1", "3"), &at); err != nil || at.BlockID != format.BlockID(subs[3].Header) {
		t.Fatalf("CredentialAt 3: %+v %v", at, err)
	}

	// All of it again: no writes, no event.
	before := maps.Clone(f.w.state)
	if out, err := f.anchorBatch(f.anchor, subs); err != nil || len(out) != 4 || out[3].Recorded {
		t.Fatalf("re-submission: %+v %v", out, err)
	}
	if len(f.w.last.writes) != 0 || len(f.w.last.events) != 0 || !maps.EqualFunc(before, f.w.state, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("re-submission wrote %d keys, events %v", len(f.w.last.writes), f.w.last.events)
	}
}

func TestRecordCredentialsBatchRefused(t *testing.T) {
	f := newFixture(t)
	if err := f.register(f.admin, f.appliance()); err != nil {
		t.Fatal(err)
	}
	subs := f.chainFrom(0, nil, 3)
	if _, err := f.anchorBatch(f.anchor, subs[:1]); err != nil {
		t.Fatal(err)
	}
	badSig := slices.Clone(subs[1:])
	badSig[0].HeaderSig = append([]byte(nil), badSig[0].HeaderSig...)
	badSig[0].HeaderSig[0] ^= 0xff
	for _, tc := range []struct {
		name string
		who  identity
		arg  string
		want error
		msg  string
	}{
		{"other identity", newIdentity(t, manufacturer, "User2@manufacturer", "client"), jsonOf(subs[1:]), rules.ErrForbidden, "block 1"},
		{"bad signature first of two", f.anchor, jsonOf(badSig), rules.ErrBadSignature, "block 1"},
		{"gap", f.anchor, jsonOf([]format.Submission{subs[0], subs[2]}), rules.ErrInvalid, "batch entry 1 is block 2"},
		{"not linked to the ledger", f.anchor, jsonOf(subs[2:]), rules.ErrBrokenChain, "block 2"},
		{"empty", f.anchor, "[]", rules.ErrInvalid, "empty batch"},
		{"not JSON", f.anchor, "{not json", rules.ErrInvalid, "argument"},
		{"a single submission, not an array", f.anchor, jsonOf(subs[1]), rules.ErrInvalid, "argument"},
		{"too many", f.anchor, jsonOf(slices.Repeat(subs[1:2], format.MaxBatchCount+1)), rules.ErrInvalid, "limit"},
		{"argument too long", f.anchor, `[` + strings.Repeat(" ", maxBatchArg) + `]`, rules.ErrInvalid, "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.w.state)
			resp := f.w.invoke(f.cc, tc.who, wire.TxRecordCredentials, tc.arg)
			err := f.result(resp, nil)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v saying %q", err, tc.want, tc.msg)
			}
			if len(f.w.state) != before || len(f.w.last.events) != 0 {
				t.Fatalf("refused batch changed the state or emitted %v", f.w.last.events)
			}
		})
	}
	if out, err := f.anchorBatch(f.anchor, subs[1:]); err != nil || len(out) != 2 || !out[1].Recorded {
		t.Fatalf("good batch after the refusals: %+v %v", out, err)
	}
	if resp := f.w.invoke(f.cc, f.anchor, wire.TxRecordCredentials, jsonOf(subs)); resp.GetStatus() != shim.OK {
		t.Fatalf("re-submission of the whole chain: %s", resp.GetMessage())
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
