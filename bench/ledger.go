package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/wotchain/wotchain/bridge/ledger"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// LedgerCase anchors blocks of BlockReadings readings on the embedded
// ledger (the contract's rules over RocksDB, as on Fabric).
type LedgerCase struct {
	BlockReadings int
	Dir           string
}

func (c LedgerCase) String() string { return fmt.Sprintf("block=%d", c.BlockReadings) }

// LedgerCost is the ledger's cost per million readings, ours against the
// naive design that writes every reading on chain.
//
// State is the world state written: keys and values (credential, height
// and per-device index entries for us; one key per reading holding its
// canonical bytes for the naive design). Block is what the ledger's blocks
// carry: each transaction's payload plus its write set (our submission:
// header, signature, object hash, location; the naive design's: the
// reading). Both are measured from the embedded ledger, whose keys and
// values are byte for byte the chaincode's.
type LedgerCost struct {
	Blocks         int
	Readings       int64
	StatePerM      float64 // bytes of ledger state per million readings
	BlockPerM      float64 // bytes of ledger blocks per million readings
	NaiveStatePerM float64
	NaiveBlockPerM float64
	StateRatio     float64 // naive / ours
	BlockRatio     float64
}

// LedgerRun is what an Anchor workload has anchored so far.
type LedgerRun struct {
	p         *sealPipeline
	led       *ledger.Embedded
	pending   *store.BlockRecord
	stateBase int64
	txBytes   int64
	blocks    int
	readings  int64
	rawBytes  int64 // canonical bytes of every anchored reading
}

// Anchor measures anchoring one sealed block per operation on the embedded
// ledger; sealing the block is not timed. Cost reports what the anchored
// blocks left on the ledger.
func (c LedgerCase) Anchor(ctx context.Context) (*Workload, *LedgerRun, error) {
	p, err := newSealPipeline(filepath.Join(c.Dir, "ledger-"+c.String()), c.BlockReadings)
	if err != nil {
		return nil, nil, err
	}
	led := ledger.NewEmbedded(p.st.Ledger(), "appliance-"+ApplianceID, slog.New(slog.DiscardHandler))
	id := led.Identity()
	pub := p.key.Public().(ed25519.PublicKey)
	if err := led.RegisterAppliance(ctx, rules.Appliance{ID: ApplianceID, PublicKey: pub, AnchorMSP: id.MSPID, AnchorID: id.ID}); err != nil {
		p.st.Close()
		return nil, nil, err
	}
	run := &LedgerRun{p: p, led: led}
	if run.stateBase, err = ledgerStateBytes(p.st); err != nil {
		p.st.Close()
		return nil, nil, err
	}
	w := &Workload{
		Name:    "anchor " + c.String(),
		Workers: 1,
		Before: func() error {
			if err := p.ingestReadings(c.BlockReadings); err != nil {
				return err
			}
			rec, _, err := p.sealOne()
			if err != nil {
				return err
			}
			raws, err := p.st.Readings(rec.FirstSeq, rec.LastSeq)
			if err != nil {
				return err
			}
			for _, r := range raws {
				run.rawBytes += int64(len(r))
			}
			run.pending = rec
			return nil
		},
		Op: func(int) (int, int, error) {
			rec := run.pending
			sub := format.Submission{Header: rec.Header, HeaderSig: rec.HeaderSig, ObjectHash: rec.ObjectHash, Location: "fs:" + rec.ObjectHash}
			if _, _, err := led.Anchor(ctx, sub); err != nil {
				return 0, 0, err
			}
			payload, err := json.Marshal(sub)
			if err != nil {
				return 0, 0, err
			}
			run.txBytes += int64(len(payload))
			run.blocks++
			n := int(rec.LastSeq - rec.FirstSeq + 1)
			run.readings += int64(n)
			return n, len(payload), nil
		},
		Close: p.st.Close,
	}
	return w, run, nil
}

// Cost computes the per-million figures of what was anchored so far.
func (r *LedgerRun) Cost() (LedgerCost, error) {
	if r.readings == 0 {
		return LedgerCost{}, fmt.Errorf("no block anchored")
	}
	state, err := ledgerStateBytes(r.p.st)
	if err != nil {
		return LedgerCost{}, err
	}
	state -= r.stateBase // the appliance's registration is not per reading
	perM := 1e6 / float64(r.readings)
	// Our blocks carry each submission and its write set (the new state).
	c := LedgerCost{Blocks: r.blocks, Readings: r.readings}
	c.StatePerM = float64(state) * perM
	c.BlockPerM = float64(r.txBytes+state) * perM
	// The naive design: one key per reading, as the contract's composite
	// keys are laid out, holding the reading's canonical bytes; its
	// transaction carries the reading and writes that key.
	key, err := rules.CompositeKey("reading", ApplianceID, fmt.Sprintf("%020d", r.readings))
	if err != nil {
		return LedgerCost{}, err
	}
	naiveState := float64(r.rawBytes) + float64(len(key))*float64(r.readings)
	c.NaiveStatePerM = naiveState * perM
	c.NaiveBlockPerM = (naiveState + float64(r.rawBytes)) * perM
	c.StateRatio = c.NaiveStatePerM / c.StatePerM
	c.BlockRatio = c.NaiveBlockPerM / c.BlockPerM
	return c, nil
}

// ledgerStateBytes sums the keys and values of the ledger's world state.
func ledgerStateBytes(st *store.Store) (int64, error) {
	var n int64
	err := st.Ledger().Scan("", "", func(k string, v []byte) (bool, error) {
		n += int64(len(k) + len(v))
		return true, nil
	})
	return n, err
}

// Report reports the cost figures as benchmark metrics.
func (c LedgerCost) Report(b Reporter) {
	b.ReportMetric(c.StatePerM, "state-B/Mreadings")
	b.ReportMetric(c.BlockPerM, "block-B/Mreadings")
	b.ReportMetric(c.NaiveStatePerM, "naive-state-B/Mreadings")
	b.ReportMetric(c.StateRatio, "x-smaller-state")
	b.ReportMetric(c.BlockRatio, "x-smaller-blocks")
}

// LedgerCases are the measured block sizes: the default seal.max_readings
// and larger blocks, since the ledger's cost per reading falls with the
// readings per block.
func LedgerCases() []LedgerCase {
	return []LedgerCase{{BlockReadings: 1000}, {BlockReadings: 10_000}, {BlockReadings: 25_000}, {BlockReadings: 100_000}}
}
