package livesub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotchain/wotchain/bridge/grantpub"
)

// Broker is where the streams are read.
type Broker struct {
	URL, ClientID, Username, Password string
}

// Run subscribes to the grants' topics on the broker and handles their
// messages until ctx ends. It runs a persistent session (clean session off, QoS 1, a
// fixed client id): the broker queues what comes while the partner is
// away, and a message is acknowledged only after the subscriber made it
// durable.
func (sub *Subscriber) Run(ctx context.Context, b Broker, app string, grants []string) error {
	clientID := b.ClientID
	if clientID == "" {
		clientID = "wotchain-partner-" + app + "-" + grants[0]
	}
	broker, user, password := b.URL, b.Username, b.Password
	errc := make(chan error, 1)
	var once sync.Once
	// Acknowledged by hand: a message whose line or state could not be
	// written (a full disk) stays unacknowledged, and the broker sends it
	// again when the subscriber reconnects. Any other error (a message
	// that fails its checks) is acknowledged and stops the subscriber.
	handler := func(_ mqtt.Client, m mqtt.Message) {
		err := sub.handle(m.Topic(), m.Payload())
		if err != nil {
			select {
			case errc <- err:
			default:
			}
		}
		if !errors.Is(err, ErrNotDurable) {
			m.Ack()
		}
	}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(clientID).SetProtocolVersion(4).
		SetCleanSession(false).SetOrderMatters(true).SetAutoReconnect(true).SetAutoAckDisabled(true).
		SetConnectRetry(true).SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(10 * time.Second).
		SetDefaultPublishHandler(handler)
	if user != "" {
		opts.SetUsername(user).SetPassword(password)
	}
	topics := map[string]byte{}
	for _, g := range grants {
		topics[grantpub.GrantTopic(app, g)+"/#"] = 1
	}
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		tok := c.SubscribeMultiple(topics, handler)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			select {
			case errc <- fmt.Errorf("subscribe: %v", tok.Error()):
			default:
			}
			return
		}
		once.Do(func() { close(sub.ready) })
	})
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		err := tok.Error()
		if err == nil {
			err = errors.New("timed out")
		}
		return fmt.Errorf("connect to %s: %w", broker, err)
	}
	defer c.Disconnect(250)
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// handle is Handle under the lock: paho may call handlers of different
// topics concurrently.
func (sub *Subscriber) handle(topic string, payload []byte) error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.Handle(topic, payload)
}
