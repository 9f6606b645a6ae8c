package coap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	piondtls "github.com/pion/dtls/v3"
	dtlsnet "github.com/pion/dtls/v3/pkg/net"
	coapdtls "github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	"github.com/plgd-dev/go-coap/v3/udp/client"
)

// dialer opens a connection to the device: plain UDP, or DTLS with the
// handshake completed so credential problems surface at dial time.
type dialer struct {
	addr string
	dtls []piondtls.ClientOption // nil for coap://
	log  *slog.Logger
}

func (d dialer) dial(ctx context.Context) (*client.Conn, error) {
	opts := []udp.Option{
		options.WithErrors(func(err error) { d.log.Debug("coap transport error", "err", err) }),
		// go-coap by default also waits for each response before sending the
		// next request, so one slow resource would time out every other
		// one. RFC 7252 §4.7 only limits unacknowledged exchanges (NSTART=1,
		// which go-coap keeps); one request per resource path stays the rule.
		options.WithLimitClientParallelRequest(0),
	}
	if d.dtls == nil {
		nd := &net.Dialer{}
		if dl, ok := ctx.Deadline(); ok {
			nd.Deadline = dl
		}
		conn, err := udp.Dial(d.addr, append(opts, options.WithDialer(nd))...)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", d.addr, err)
		}
		return conn, nil
	}
	var nd net.Dialer
	pc, err := nd.DialContext(ctx, "udp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", d.addr, err)
	}
	dc, err := piondtls.ClientWithOptions(dtlsnet.PacketConnFromConn(pc), pc.RemoteAddr(), d.dtls...)
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("DTLS setup for %s: %w", d.addr, err)
	}
	// pion would otherwise run the handshake lazily inside the first
	// request, where a wrong key looks like a timeout.
	if err := dc.HandshakeContext(ctx); err != nil {
		_ = dc.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			// Many DTLS servers drop a handshake with a wrong key silently.
			return nil, fmt.Errorf("DTLS handshake with %s timed out (wrong key or identity, or no DTLS server there): %w", d.addr, err)
		}
		return nil, fmt.Errorf("DTLS handshake with %s: %w", d.addr, err)
	}
	return coapdtls.Client(dc, append(opts, options.WithCloseSocket())...), nil
}
