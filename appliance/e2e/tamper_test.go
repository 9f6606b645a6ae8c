package e2e

import (
	be "encoding/binary"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/linxGnu/grocksdb"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// rawStore opens a stopped appliance's RocksDB directly, as someone with
// access to the disk would, to change records behind the appliance's back.
type rawStore struct {
	db  *grocksdb.DB
	cfs map[string]*grocksdb.ColumnFamilyHandle
	ro  *grocksdb.ReadOptions
	wo  *grocksdb.WriteOptions
}

// The store's column families (bridge/store), all of which must be opened.
var storeFamilies = []string{"default", "readings", "polls", "index", "blocks", "blockseq", "objects", "outbox", "meta", "ledger"}

func openRaw(t *testing.T, dir string) *rawStore {
	t.Helper()
	opts := grocksdb.NewDefaultOptions()
	cfOpts := make([]*grocksdb.Options, len(storeFamilies))
	for i := range cfOpts {
		cfOpts[i] = opts
	}
	db, handles, err := grocksdb.OpenDbColumnFamilies(opts, dir, storeFamilies, cfOpts)
	if err != nil {
		t.Fatalf("open the store directly: %v", err)
	}
	r := &rawStore{db: db, cfs: map[string]*grocksdb.ColumnFamilyHandle{}, ro: grocksdb.NewDefaultReadOptions(), wo: grocksdb.NewDefaultWriteOptions()}
	r.wo.SetSync(true)
	for i, h := range handles {
		r.cfs[storeFamilies[i]] = h
	}
	t.Cleanup(func() {
		for _, h := range r.cfs {
			h.Destroy()
		}
		db.Close()
		opts.Destroy()
	})
	return r
}

func (r *rawStore) get(t *testing.T, cf string, key []byte) []byte {
	t.Helper()
	sl, err := r.db.GetCF(r.ro, r.cfs[cf], key)
	if err != nil {
		t.Fatalf("%s/%x: %v", cf, key, err)
	}
	defer sl.Free()
	if !sl.Exists() {
		t.Fatalf("%s/%x: not found", cf, key)
	}
	return append([]byte(nil), sl.Data()...)
}

func (r *rawStore) put(t *testing.T, cf string, key, value []byte) {
	t.Helper()
	if err := r.db.PutCF(r.wo, r.cfs[cf], key, value); err != nil {
		t.Fatal(err)
	}
}

// failLine returns verify's first FAIL line.
func failLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "FAIL") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func seqKey(seq uint64) []byte { return be.BigEndian.AppendUint64(nil, seq) }

// tamperedValue returns a reading that differs from r only in its value.
func tamperedValue(t *testing.T, raw []byte) []byte {
	t.Helper()
	r, err := reading.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	switch v := r.Value().(type) {
	case float64:
		err = r.SetValue(v + 0.5)
	case int64:
		err = r.SetValue(v + 1)
	case bool:
		err = r.SetValue(!v)
	case string:
		err = r.SetValue(v + "!")
	default:
		err = r.SetValue(int64(1))
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// verifySeq runs `wotchain verify --seq` and returns its output and exit code.
func verifySeq(t *testing.T, cfgPath string, seq uint64) (string, int) {
	t.Helper()
	return runCLI(t, "verify", "--config", cfgPath, "--seq", strconv.FormatUint(seq, 10))
}

// TestTamperingInStoreAndLedgerDetected runs the appliance until blocks are
// anchored, stops it, and changes its records on disk behind its back, one
// kind of change at a time: a stored reading's value (in RocksDB), a
// credential's summary on the embedded ledger, and a credential replaced
// by another block's genuine one. `wotchain verify` must fail each time at
// the check that guards that record, and pass again once it is restored.
// (A flipped byte in a stored block object is TestDemoRunVerifiesAndDetectsTampering;
// a changed Merkle path element is merkle.TestProofs and FuzzVerify.)
func TestTamperingInStoreAndLedgerDetected(t *testing.T) {
	dir, cfgPath, _ := anchorThree(t, 20)

	n := loadNode(t, cfgPath)
	b0, err0 := n.Store.Block(0)
	b1, err1 := n.Store.Block(1)
	n.Close()
	if err0 != nil || err1 != nil || b1.State != store.Anchored {
		t.Fatalf("blocks 0 and 1: %v %v %+v", err0, err1, b1)
	}
	// The first, a middle and the last reading of block 1: the Merkle
	// tree's left edge, inside and right edge.
	seqs := []uint64{b1.FirstSeq, (b1.FirstSeq + b1.LastSeq) / 2, b1.LastSeq}
	for _, seq := range seqs {
		if out, code := verifySeq(t, cfgPath, seq); code != 0 {
			t.Fatalf("reading %d does not verify before tampering: exit %d\n%s", seq, code, out)
		}
	}
	raw := openRaw(t, filepath.Join(dir, "data", "store"))
	// expectFail checks that verify fails at check for every seq, restores
	// the record, and checks that verify passes again.
	expectFail := func(t *testing.T, check string, restore func()) {
		t.Helper()
		for i, seq := range seqs {
			out, code := verifySeq(t, cfgPath, seq)
			if code != 1 || !strings.Contains(out, "FAIL "+check) {
				t.Errorf("reading %d: exit %d, want 1 with FAIL %s\n%s", seq, code, check, out)
			}
			if i == 0 {
				t.Logf("reading %d: %s", seq, failLine(out))
			}
		}
		restore()
		for _, seq := range seqs {
			if out, code := verifySeq(t, cfgPath, seq); code != 0 {
				t.Fatalf("reading %d after restoring: exit %d\n%s", seq, code, out)
			}
		}
	}

	t.Run("reading value changed in the store", func(t *testing.T) {
		for _, seq := range seqs {
			orig := raw.get(t, "readings", seqKey(seq))
			raw.put(t, "readings", seqKey(seq), tamperedValue(t, orig))
			out, code := verifySeq(t, cfgPath, seq)
			if code != 1 || !strings.Contains(out, "FAIL reading in block") {
				t.Errorf("reading %d with its value changed: exit %d, want 1 with FAIL reading in block\n%s", seq, code, out)
			}
			t.Logf("reading %d: %s", seq, failLine(out))
			raw.put(t, "readings", seqKey(seq), orig)
			if out, code := verifySeq(t, cfgPath, seq); code != 0 {
				t.Fatalf("reading %d after restoring: exit %d\n%s", seq, code, out)
			}
		}
	})

	credKey, err := rules.CompositeKey("cred", b1.BlockID)
	if err != nil {
		t.Fatal(err)
	}
	origCred := raw.get(t, "ledger", []byte(credKey))

	for _, c := range []struct {
		field string
		edit  func(m map[string]any)
	}{
		{"lastSeq", func(m map[string]any) { m["lastSeq"] = m["lastSeq"].(float64) + 1 }},
		{"merkleRoot", func(m map[string]any) { m["merkleRoot"] = strings.Repeat("ab", 32) }},
		{"devices", func(m map[string]any) { m["devices"] = []string{"press-1"} }},
	} {
		t.Run("credential "+c.field+" changed on the embedded ledger", func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(origCred, &m); err != nil {
				t.Fatal(err)
			}
			c.edit(m)
			v, _ := json.Marshal(m)
			raw.put(t, "ledger", []byte(credKey), v)
			expectFail(t, "credential", func() { raw.put(t, "ledger", []byte(credKey), origCred) })
		})
	}

	t.Run("credential replaced by another block's on the embedded ledger", func(t *testing.T) {
		k0, _ := rules.CompositeKey("cred", b0.BlockID)
		raw.put(t, "ledger", []byte(credKey), raw.get(t, "ledger", []byte(k0)))
		expectFail(t, "credential", func() { raw.put(t, "ledger", []byte(credKey), origCred) })
	})
}
