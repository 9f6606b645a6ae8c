package httpapi

import (
	"context"
	"time"

	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

// Devices reports the configured devices. It is called on every request,
// scrape and status event, so it must be cheap and safe for concurrent use;
// the set may change between calls (hot reload).
type Devices interface {
	Devices() []DeviceStatus
}

// DevicesFunc adapts a function to Devices.
type DevicesFunc func() []DeviceStatus

// Devices calls f.
func (f DevicesFunc) Devices() []DeviceStatus { return f() }

// DeviceStatus is one device as the daemon sees it.
type DeviceStatus struct {
	ID       string
	Protocol string
	Interval time.Duration
	Health   poll.Health
	// Stats is the source's connection statistics; nil when the source
	// does not implement protocols.StatsReporter.
	Stats *protocols.Stats
	// Last holds the latest value of each point (see poll.LastValues).
	Last []poll.PointValue
}

// Pipeline reports what the store does not record: failures of the
// outbox's storage uploads and ledger calls since the daemon started.
// Everything else about the pipeline (readings, blocks, outbox) is read from
// the store, which stays right across restarts.
type Pipeline interface {
	Counters() PipelineCounters
}

// PipelineFunc adapts a function to Pipeline.
type PipelineFunc func() PipelineCounters

// Counters calls f.
func (f PipelineFunc) Counters() PipelineCounters { return f() }

// PipelineCounters are monotonic error counts since start.
type PipelineCounters struct {
	StorageErrors uint64
	LedgerErrors  uint64
	// LastAnchorError is the last anchoring attempt's error, "" after a
	// success.
	LastAnchorError string
	// The consumers of stored readings and anchored blocks; nil when not
	// configured.
	MQTT       *ConsumerCounters
	Aggregate  *ConsumerCounters
	Deliveries *DeliveryCounters
}

// ConsumerCounters are a reading consumer's progress: the MQTT publisher
// (Done: messages the broker acknowledged) or the aggregator (Done:
// windows stored).
type ConsumerCounters struct {
	Done     uint64
	Position uint64 // every reading up to this seq is consumed
	Lag      uint64 // readings stored after Position
	Errors   uint64
	// Connected is the publisher's broker connection; nil for the aggregator.
	Connected *bool
}

// DeliveryCounters are the licensor's key deliveries.
type DeliveryCounters struct {
	Delivered uint64 // deliveries stored since start
	Errors    uint64 // failed passes since start
	Grants    int    // grants the last pass examined
	// NextHeight is the lowest block height a grant has not examined:
	// anchored blocks from it on wait for their delivery decision.
	NextHeight uint64
}

// Credentials finds an anchored block's credential by block id; the
// daemon's ledger provides it. Without it, a lookup by id scans the store.
type Credentials interface {
	Credential(ctx context.Context, blockID string) (*format.Credential, error)
}

// KeyHistory reads an appliance's key history from the ledger. When
// Options.Credentials also implements it (both ledgers do), proof bundles
// of anchored blocks carry their signing key's history entry and anchoring
// time, so they verify offline after the appliance's key has changed.
type KeyHistory interface {
	Appliance(ctx context.Context, id string) (*rules.Appliance, error)
}

// Objects fetches a stored encrypted block object by location; the daemon's
// storage provides it. It is used when the store no longer keeps a block's
// object locally.
type Objects interface {
	Get(ctx context.Context, location string) ([]byte, error)
}
