package livesub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/proof"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Ledger is what the anchoring check reads: the credentials of a device's
// blocks and the appliance's key history.
type Ledger interface {
	ListByDevice(ctx context.Context, device string, from, to int64, limit int, bookmark string) (*format.Page, error)
	Appliance(ctx context.Context, id string) (*rules.Appliance, error)
}

// Objects returns a stored block object by its credential's location.
type Objects interface {
	Get(ctx context.Context, location string) ([]byte, error)
}

// unanchored is a reading written but not yet proven in an anchored block.
type unanchored struct {
	Grant   string `json:"grant"`
	Payload []byte `json:"payload"` // livegrant.Payload JSON
}

// AnchoredLine is the line written once a reading's block is anchored and
// the reading proven in it.
type AnchoredLine struct {
	Grant   string `json:"grant"`
	Seq     uint64 `json:"seq"`
	Check   string `json:"check"` // "anchored and verified"
	BlockID string `json:"block_id"`
	Height  uint64 `json:"height"`
}

// CheckAnchored looks up, for each reading written but not yet proven,
// the anchored block holding it; for each found it builds the reading's
// proof bundle (its poll path from the message, its poll's path in the
// block from the block object's clear poll records, the header from the
// credential) and checks it with bridge/proof against the ledger's key
// history, then writes an "anchored and verified" line. It returns how
// many it verified; a failed check is an error.
func (s *Subscriber) CheckAnchored(ctx context.Context, led Ledger, objs Objects) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keep []unanchored
	n := 0
	var app *rules.Appliance
	for i, u := range s.st.Unanchored {
		ok, err := s.checkOne(ctx, led, objs, &app, u)
		if err != nil {
			s.st.Unanchored = append(keep, s.st.Unanchored[i:]...)
			return n, err
		}
		if ok {
			n++
		} else {
			keep = append(keep, u)
		}
	}
	s.st.Unanchored = keep
	if n == 0 {
		return 0, nil
	}
	return n, s.save()
}

func (s *Subscriber) checkOne(ctx context.Context, led Ledger, objs Objects, app **rules.Appliance, u unanchored) (bool, error) {
	var p payloadJSON
	if err := json.Unmarshal(u.Payload, &p); err != nil {
		return false, err
	}
	r, err := reading.Decode(p.Canonical)
	if err != nil {
		return false, err
	}
	page, err := led.ListByDevice(ctx, r.DeviceID, r.ApplianceTime, r.ApplianceTime, 100, "")
	if err != nil {
		return false, fmt.Errorf("credentials of %s: %w", r.DeviceID, err)
	}
	var cred *format.Credential
	for _, c := range page.Credentials {
		if c.ApplianceID == r.ApplianceID && c.FirstSeq <= r.Seq && r.Seq <= c.LastSeq {
			cred = c
		}
	}
	if cred == nil {
		return false, nil // not anchored yet
	}
	if *app == nil {
		if *app, err = led.Appliance(ctx, r.ApplianceID); err != nil {
			return false, fmt.Errorf("appliance %s: %w", r.ApplianceID, err)
		}
	}
	b, err := bundle(ctx, objs, cred, &p, r)
	if err != nil {
		return false, fmt.Errorf("reading %d, block %s: %w", r.Seq, cred.BlockID, err)
	}
	if cred.KeyID != "" {
		k, err := proof.KeyOf(*app, cred.KeyID, cred.Height)
		if err != nil {
			return false, fmt.Errorf("reading %d: %w", r.Seq, err)
		}
		b.SigningKey = &k
	}
	if _, err := proof.VerifyHistory(b, *app); err != nil {
		return false, fmt.Errorf("reading %d, block %s: %w", r.Seq, cred.BlockID, err)
	}
	line, err := json.Marshal(AnchoredLine{Grant: u.Grant, Seq: r.Seq, Check: "anchored and verified", BlockID: cred.BlockID, Height: cred.Height})
	if err != nil {
		return false, err
	}
	if _, err := s.out.Write(append(line, '\n')); err != nil {
		return false, err
	}
	return true, nil
}

// payloadJSON is the part of a livegrant.Payload the bundle needs.
type payloadJSON struct {
	Canonical []byte   `json:"canonical"`
	Salt      string   `json:"salt"`
	Poll      []byte   `json:"poll"`
	PollPath  [][]byte `json:"poll_path"`
}

// bundle is the reading's v2 proof bundle in the credential's block.
func bundle(ctx context.Context, objs Objects, cred *format.Credential, p *payloadJSON, r *reading.Reading) (*proof.Bundle, error) {
	seq := r.Seq
	obj, err := objs.Get(ctx, cred.Location)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", cred.Location, err)
	}
	sum := sha256.Sum256(obj)
	if hex.EncodeToString(sum[:]) != cred.ObjectHash {
		return nil, fmt.Errorf("the object at %s is not the anchored one", cred.Location)
	}
	o, err := envelope.ParseV2(obj)
	if err != nil {
		return nil, err
	}
	roots := make([][]byte, len(o.Polls))
	k := -1
	for j := range o.Polls {
		rec, err := o.Record(j)
		if err != nil {
			return nil, err
		}
		roots[j] = rec.PollRoot
		if rec.FirstSeq <= seq && seq <= rec.LastSeq {
			k = j
		}
	}
	if k < 0 {
		return nil, fmt.Errorf("no poll of the block holds reading %d", seq)
	}
	outer, err := merkle.NewOuter(roots)
	if err != nil {
		return nil, err
	}
	path, err := outer.Proof(uint64(k))
	if err != nil {
		return nil, err
	}
	salt, err := hex.DecodeString(p.Salt)
	if err != nil {
		return nil, fmt.Errorf("salt: %w", err)
	}
	return &proof.Bundle{
		ApplianceID: cred.ApplianceID, BlockID: cred.BlockID, Height: cred.Height, Seq: seq,
		Reading: p.Canonical, Decoded: r.JSON(), Poll: o.Polls[k].Record,
		Header: cred.Header, HeaderSignature: cred.HeaderSig, ObjectHash: cred.ObjectHash, Location: cred.Location,
		State: "anchored", Version: proof.BundleV2, Salt: salt, PollPath: p.PollPath,
		PollPosition: uint64(k), BlockPath: path, AnchoredAt: cred.AnchoredAt,
	}, nil
}
