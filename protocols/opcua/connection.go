package opcua

import (
	"fmt"
	"time"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/protocols"
)

// connection is one session with its resolved Read request and
// subscriptions. It is replaced whole on reconnect.
type connection struct {
	client  *gopcua.Client
	readReq *ua.ReadRequest
	readPos []int          // by point index: position in readReq, or -1
	bad     map[int]string // points that cannot be served on this connection, reported Bad on every poll
	subs    *subscriptions
}

// lost tells whether the connection is known to be gone: gopcua closed it
// (the server cut the channel) or a subscription ended.
func (c *connection) lost() error {
	if st := c.client.State(); st != gopcua.Connected {
		return fmt.Errorf("client state %s", st)
	}
	return c.subs.err()
}

// samples maps a Read response to the polled points, in configuration
// order, with a Bad sample for each point that cannot be served.
func (c *connection) samples(points []Point, subscribed []bool, resp *ua.ReadResponse) []protocols.Sample {
	out := make([]protocols.Sample, 0, len(points))
	for i, p := range points {
		if why, ok := c.bad[i]; ok {
			out = append(out, protocols.Sample{Point: p.Name, Unit: p.Unit, Quality: protocols.Bad, Reason: why})
			continue
		}
		if subscribed[i] || c.readPos[i] < 0 {
			continue
		}
		out = append(out, toSample(p, resp.Results[c.readPos[i]]))
	}
	return out
}

// close closes the session (which deletes its subscriptions on the server)
// and then stops delivering notifications.
func (c *connection) close(timeout time.Duration) error {
	err := closeClient(c.client, timeout)
	c.subs.close()
	return err
}
