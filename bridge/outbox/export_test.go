package outbox

import (
	"context"
	"time"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// The tests live in package outbox_test, since the chain fixture they use
// (bridge/pipeline/pipelinetest) imports this package; these give them the
// upload lane alone, the backoff and the submission of a block.

func (o *Outbox) StepUpload(ctx context.Context) (bool, error) { return o.stepUpload(ctx) }

func (o *Outbox) Backoff(failures int) time.Duration { return o.backoff(failures) }

func Submission(rec *store.BlockRecord) format.Submission { return submission(rec) }
