// Package grantpub publishes the per-grant live streams: for each grant on
// the ledger, a publish.Publisher of its own (own connection, own durable
// cursor "publish/grant-{id}", so catch-up after an outage starts where
// the grant's partner stopped) whose Encoder seals, with bridge/livegrant,
// exactly the readings the grant covers. Topics, under the grant:
//
//	wotchain/{appliance}/grant/{grant}/data          livegrant.Sealed, JSON
//	wotchain/{appliance}/grant/{grant}/keys/{epoch}  livegrant.KeyMessage, JSON, retained
//
// The data topic names no device or point: the broker routes by grant and
// learns nothing else.
package grantpub

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/wotchain/wotchain/bridge/livegrant"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Store is what a stream reads besides what the publisher reads: the
// poll of a reading and the poll's readings.
type Store interface {
	PollAt(seq uint64) (firstSeq uint64, record []byte, err error)
	Readings(first, last uint64) ([][]byte, error)
}

// DataTopic and KeyTopic are a grant's topics.
func DataTopic(appliance, grant string) string {
	return GrantTopic(appliance, grant) + "/data"
}

// KeyTopic is the retained topic of a grant's key of one epoch.
func KeyTopic(appliance, grant string, epoch uint64) string {
	return GrantTopic(appliance, grant) + "/keys/" + strconv.FormatUint(epoch, 10)
}

// GrantTopic is the root of a grant's topics; a partner's ACL allows
// reading GrantTopic + "/#".
func GrantTopic(appliance, grant string) string {
	return publish.Topic("wotchain/{appliance}/grant/{device}", appliance, grant, "")
}

// Stream is the Encoder of one grant.
type Stream struct {
	st  Store
	app string

	mu     sync.Mutex // Revoke comes from the grant watcher
	sealer *livegrant.Sealer
	grant  string

	// the last poll's payloads, one store read per poll
	first, last uint64
	payloads    [][]byte
}

// NewStream returns the stream of grant g, rotating its key every period.
func NewStream(st Store, appliance string, g *rules.Grant, period time.Duration, keys livegrant.KeyStore) (*Stream, error) {
	s, err := livegrant.NewSealer(g, period, keys)
	if err != nil {
		return nil, err
	}
	return &Stream{st: st, app: appliance, sealer: s, grant: g.ID}, nil
}

// Revoke stops the stream at the revocation time at (Unix ns): nothing
// taken from then on is sealed, and the current key is dropped.
func (s *Stream) Revoke(at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealer.Revoke(at)
}

// Encode implements publish.Encoder.
func (s *Stream) Encode(seq uint64, raw []byte, saltOf func(uint64) (*[reading.SaltSize]byte, error)) ([]publish.Out, error) {
	r, err := reading.Decode(raw)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sealer.Covers(r.DeviceID, r.ApplianceTime) {
		return nil, nil
	}
	plain, err := s.payload(seq, saltOf)
	if errors.Is(err, errV1) {
		return nil, nil // a v1 reading cannot be proven alone: not streamed
	}
	if err != nil {
		return nil, err
	}
	msg, km, err := s.sealer.Seal(seq, r.DeviceID, r.ApplianceTime, plain)
	if err != nil {
		return nil, err
	}
	var outs []publish.Out
	if km != nil {
		b, err := json.Marshal(km)
		if err != nil {
			return nil, err
		}
		outs = append(outs, publish.Out{Topic: KeyTopic(s.app, s.grant, km.Epoch), Payload: b, Retain: true})
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return append(outs, publish.Out{Topic: DataTopic(s.app, s.grant), Payload: b}), nil
}

var errV1 = errors.New("v1 poll")

// payload is the JSON of reading seq's livegrant.Payload.
func (s *Stream) payload(seq uint64, saltOf func(uint64) (*[reading.SaltSize]byte, error)) ([]byte, error) {
	if s.payloads == nil || seq < s.first || seq > s.last {
		first, rawRec, err := s.st.PollAt(seq)
		if err != nil {
			return nil, fmt.Errorf("poll of reading %d: %w", seq, err)
		}
		rec, err := reading.DecodePoll(rawRec)
		if err != nil {
			return nil, fmt.Errorf("poll at %d: %w", first, err)
		}
		if rec.Version() != reading.PollV2 {
			return nil, errV1
		}
		encoded, err := s.st.Readings(rec.FirstSeq, rec.LastSeq)
		if err != nil {
			return nil, fmt.Errorf("poll at %d: %w", first, err)
		}
		salts := make([][reading.SaltSize]byte, len(encoded))
		for j := range encoded {
			salt, err := saltOf(rec.FirstSeq + uint64(j))
			if err != nil {
				return nil, err
			}
			if salt == nil {
				return nil, errV1
			}
			salts[j] = *salt
		}
		payloads := make([][]byte, len(encoded))
		for j := range encoded {
			p, err := livegrant.NewPayload(rec, encoded, salts, j)
			if err != nil {
				return nil, err
			}
			if payloads[j], err = json.Marshal(p); err != nil {
				return nil, err
			}
		}
		s.first, s.last, s.payloads = rec.FirstSeq, rec.LastSeq, payloads
	}
	return s.payloads[seq-s.first], nil
}
