package outbox

import (
	"fmt"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// Head is what the choice of a run knows of one block in the outbox.
type Head struct {
	Height uint64
	State  store.BlockState
	Size   int // format.SubmissionSize of the block's submission
}

// Limits bound the blocks of one anchoring call.
type Limits struct {
	Count int // blocks; at least 1
	Bytes int // summed submission sizes; the first block is taken whatever its size
}

// LimitsFor returns the limits of one anchoring call: one block when the
// ledger has no AnchorBatch, else at most maxBatch blocks (at least one)
// and maxBatchBytes, each capped by what the contract accepts.
func LimitsFor(batch bool, maxBatch, maxBatchBytes int) Limits {
	l := Limits{Count: 1, Bytes: min(maxBatchBytes, format.MaxBatchBytes)}
	if batch {
		l.Count = max(1, min(maxBatch, format.MaxBatchCount))
	}
	return l
}

// ChooseRun returns how many blocks at the head of the outbox (head is in
// height order) one anchoring call takes: the uploaded blocks before the
// first that is still sealed, as many as l allows. None when the lowest
// block is not uploaded yet: the ledger accepts a block only after its
// predecessor. A block in another state in the outbox is an error. It does
// no I/O, so the outbox reads the head and does what it says.
func ChooseRun(head []Head, l Limits) (int, error) {
	n, size := 0, 0
	for _, h := range head {
		if n == l.Count {
			break
		}
		switch h.State {
		case store.Sealed:
			return n, nil
		case store.Uploaded:
		default:
			return 0, fmt.Errorf("block %d in the outbox is %s", h.Height, h.State)
		}
		if n > 0 && size+h.Size > l.Bytes {
			break
		}
		n, size = n+1, size+h.Size
	}
	return n, nil
}
