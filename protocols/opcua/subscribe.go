package opcua

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/protocols"
)

// monitor is one subscribed point on one connection: the point's index
// (also the monitored item's client handle) and its resolved node id.
type monitor struct {
	index int
	node  *ua.NodeID
}

// subscriptions are the subscriptions of one connection and the goroutine
// that turns their notifications into samples in the buffer. They end with
// the connection; the next connection creates new ones.
type subscriptions struct {
	notifs chan *gopcua.PublishNotificationData
	stop   context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	broken error // set when the server reports the subscription gone
}

// overflowBits are the InfoType DataValue and Overflow info bits of a
// status code (Part 4, 7.39.1): the server's queue for the monitored item
// overflowed and values were discarded before this one.
const overflowBits = 0x0400 | 0x0080

// subscribe creates subscriptions for monitors, at most
// max_items_per_subscription monitored items each, and starts delivering
// their notifications to the buffer. It returns the reasons of the monitors
// the server refused (by point index) and the number of requests sent.
func (s *Source) subscribe(ctx context.Context, c *gopcua.Client, monitors []monitor) (*subscriptions, map[int]string, int, error) {
	pctx, stop := context.WithCancel(context.Background())
	subs := &subscriptions{
		// gopcua's publish loop blocks on this channel, so it is drained
		// at once by deliver into the bounded buffer.
		notifs: make(chan *gopcua.PublishNotificationData, 64),
		stop:   stop,
		done:   make(chan struct{}),
	}
	go subs.deliver(pctx, s.points, s.buffer, s.log)

	refused := make(map[int]string)
	reqs := 0
	per := s.cfg.maxItemsPerSubscription()
	for start := 0; start < len(monitors); start += per {
		chunk := monitors[start:min(start+per, len(monitors))]
		params := subscriptionParams(s.cfg.publishingInterval()) // gopcua keeps a pointer to it
		rctx, cancel := context.WithTimeout(ctx, s.timeout)
		sub, err := c.Subscribe(rctx, &params, subs.notifs)
		reqs++
		if err != nil {
			cancel()
			subs.close()
			return nil, nil, reqs, fmt.Errorf("create subscription: %w", err)
		}
		results, err := s.createItems(rctx, c, sub.SubscriptionID, chunk)
		reqs++
		cancel()
		if err != nil {
			subs.close()
			return nil, nil, reqs, fmt.Errorf("create %d monitored items in subscription %d: %w", len(chunk), sub.SubscriptionID, err)
		}
		for i, r := range results {
			m := chunk[i]
			if code := r.StatusCode; code != ua.StatusOK {
				refused[m.index] = "monitored item refused: " + statusName(code)
				continue
			}
			s.log.Debug("monitoring", "point", s.points[m.index].Name, "node_id", m.node.String(),
				"subscription", sub.SubscriptionID, "sampling_interval_ms", r.RevisedSamplingInterval, "queue_size", r.RevisedQueueSize)
		}
		s.log.Debug("subscription created", "subscription", sub.SubscriptionID, "items", len(chunk),
			"publishing_interval", sub.RevisedPublishingInterval)
	}
	return subs, refused, reqs, nil
}

// subscriptionParams keeps a keep-alive within about 5 s and the lifetime
// (how long the server keeps a subscription nobody publishes for) at about
// a minute; the spec wants the lifetime at least three keep-alives.
func subscriptionParams(interval time.Duration) gopcua.SubscriptionParameters {
	keepAlive := max(1, uint32(5*time.Second/interval))
	lifetime := max(3*keepAlive, uint32(time.Minute/interval))
	return gopcua.SubscriptionParameters{Interval: interval, MaxKeepAliveCount: keepAlive, LifetimeCount: lifetime}
}

// createItems sends CreateMonitoredItems itself rather than through
// gopcua's Subscription.Monitor, which indexes the results without checking
// their count and so panics on a server that answers with too few.
func (s *Source) createItems(ctx context.Context, c *gopcua.Client, subID uint32, chunk []monitor) ([]*ua.MonitoredItemCreateResult, error) {
	items := make([]*ua.MonitoredItemCreateRequest, len(chunk))
	for i, m := range chunk {
		items[i] = s.itemRequest(m)
	}
	req := &ua.CreateMonitoredItemsRequest{
		SubscriptionID:     subID,
		TimestampsToReturn: ua.TimestampsToReturnBoth,
		ItemsToCreate:      items,
	}
	var res *ua.CreateMonitoredItemsResponse
	err := c.Send(ctx, req, func(v ua.Response) error {
		r, ok := v.(*ua.CreateMonitoredItemsResponse)
		if !ok {
			return fmt.Errorf("unexpected response %T", v)
		}
		res = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(res.Results) != len(items) {
		return nil, fmt.Errorf("server returned %d results for %d items", len(res.Results), len(items))
	}
	for i, r := range res.Results {
		if r == nil {
			res.Results[i] = &ua.MonitoredItemCreateResult{StatusCode: ua.StatusBadUnexpectedError}
		}
	}
	return res.Results, nil
}

func (s *Source) itemRequest(m monitor) *ua.MonitoredItemCreateRequest {
	mon := s.cfg.monitoring(s.points[m.index])
	params := &ua.MonitoringParameters{
		ClientHandle:     uint32(m.index),
		SamplingInterval: float64(mon.sampling) / float64(time.Millisecond),
		QueueSize:        mon.queueSize,
		DiscardOldest:    true, // keep the newest values when the server's queue overflows
	}
	if mon.deadband != ua.DeadbandTypeNone {
		params.Filter = ua.NewExtensionObject(&ua.DataChangeFilter{
			Trigger:       ua.DataChangeTriggerStatusValue,
			DeadbandType:  uint32(mon.deadband),
			DeadbandValue: mon.value,
		})
	}
	return &ua.MonitoredItemCreateRequest{
		ItemToMonitor:       &ua.ReadValueID{NodeID: m.node, AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}},
		MonitoringMode:      ua.MonitoringModeReporting,
		RequestedParameters: params,
	}
}

// deliver moves notifications into buf until ctx ends. Nothing a server
// sends can make it panic or block: unknown handles are logged and dropped,
// and buf never blocks.
func (subs *subscriptions) deliver(ctx context.Context, points []Point, buf *sampleBuffer, log *slog.Logger) {
	defer close(subs.done)
	for {
		var n *gopcua.PublishNotificationData
		select {
		case <-ctx.Done():
			return
		case n = <-subs.notifs:
		}
		if n == nil {
			continue
		}
		received := time.Now()
		if n.Error != nil {
			subs.fail(fmt.Errorf("subscription %d: %w", n.SubscriptionID, n.Error))
			continue
		}
		switch v := n.Value.(type) {
		case *ua.DataChangeNotification:
			for _, item := range v.MonitoredItems {
				if item == nil || int(item.ClientHandle) >= len(points) {
					log.Warn("notification for an unknown monitored item dropped", "subscription", n.SubscriptionID)
					continue
				}
				p := points[item.ClientHandle]
				if item.Value != nil && uint32(item.Value.Status)&overflowBits == overflowBits {
					buf.push(protocols.Sample{Point: p.Name, Unit: p.Unit, Quality: protocols.Bad, Received: received,
						Reason: "values lost: the server's queue for this point overflowed (raise queue_size or lower sampling_interval)"})
				}
				s := toSample(p, item.Value)
				s.Received = received
				buf.push(s)
			}
		case *ua.StatusChangeNotification:
			if v.Status != ua.StatusOK {
				subs.fail(fmt.Errorf("subscription %d ended by the server: %s", n.SubscriptionID, statusName(v.Status)))
			}
		}
	}
}

func (subs *subscriptions) fail(err error) {
	subs.mu.Lock()
	defer subs.mu.Unlock()
	if subs.broken == nil {
		subs.broken = err
	}
}

// err returns why the subscriptions stopped working, or nil.
func (subs *subscriptions) err() error {
	if subs == nil {
		return nil
	}
	subs.mu.Lock()
	defer subs.mu.Unlock()
	return subs.broken
}

// close stops delivery; the subscriptions themselves end with the session.
func (subs *subscriptions) close() {
	if subs == nil {
		return
	}
	subs.stop()
	<-subs.done
}
