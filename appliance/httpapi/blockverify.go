package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/bridge/verify"
)

// checkJSON is one link of a chain check.
type checkJSON struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

type blockVerifyJSON struct {
	Height uint64      `json:"height"`
	ID     string      `json:"id"`
	Seq    uint64      `json:"seq"`
	OK     bool        `json:"ok"`
	Checks []checkJSON `json:"checks"`
}

// ledgerReader is the ledger as the chain check needs it: credentials and
// the appliance's key history (both ledgers provide both).
type ledgerReader interface {
	Credentials
	KeyHistory
}

// handleBlockVerify serves GET /api/blocks/{id}/verify?seq=: the whole
// chain check of `wotchain verify` (bridge/verify) for reading seq of the
// block (its first reading by default), link by link: the reading, its
// block, the credential on the ledger, the stored object, decryption, the
// poll signature, the Merkle path, the header signature and the signing
// key. A broken link is a 200 with ok false: the check itself ran.
func (s *Server) handleBlockVerify(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	err := checkParams(q, "seq")
	var rec *store.BlockRecord
	if err == nil {
		rec, err = s.findBlock(r.Context(), r.PathValue("id"))
	}
	seq := uint64(0)
	if err == nil {
		seq = rec.FirstSeq
		if v := q.Get("seq"); v != "" {
			if seq, err = strconv.ParseUint(v, 10, 64); err != nil || seq < rec.FirstSeq || seq > rec.LastSeq {
				err = badParam("seq", "%q is not a reading of block %d (readings %d..%d)", v, rec.Height, rec.FirstSeq, rec.LastSeq)
			}
		}
	}
	ledger, hasLedger := s.opts.Credentials.(ledgerReader)
	switch {
	case err != nil:
	case s.opts.OwnerKey == nil:
		err = withStatus(http.StatusServiceUnavailable, errNoOwnerKey)
	case !hasLedger || s.opts.Objects == nil:
		err = withStatus(http.StatusServiceUnavailable, errors.New("the chain check needs the ledger and the object storage, which this server was not given"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v := &verify.Verifier{Store: s.opts.Store, Ledger: ledger, Storage: s.opts.Objects, Key: s.opts.OwnerKey}
	rep := v.Reading(r.Context(), seq)
	out := blockVerifyJSON{Height: rec.Height, ID: rec.BlockID, Seq: seq, OK: rep.OK(), Checks: []checkJSON{}}
	for _, c := range rep.Checks {
		out.Checks = append(out.Checks, checkJSON{Name: c.Name, OK: c.OK, Detail: c.Detail})
	}
	if rec.State < store.Anchored && !out.OK {
		out.Checks = append(out.Checks, checkJSON{Name: "state", OK: false, Detail: fmt.Sprintf("block %d is %s, not anchored yet: the ledger has no credential for it", rec.Height, rec.State)})
	}
	writeJSON(w, http.StatusOK, out)
}
