package testserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
)

// Libcoap is a running libcoap example server (Debian libcoap3-bin), a
// CoAP implementation not written by us. Its resources: /time (the clock
// as text, observable, a notification every second) and /example_data
// (text served with Block2, observable, replaced by PUT). The -openssl and
// -gnutls builds also serve coaps:// on Port+1.
type Libcoap struct {
	Port int // coap:// here, coaps:// on Port+1
}

// StartLibcoap starts bin (coap-server-notls, -openssl or -gnutls) with
// args on 127.0.0.1 with free ports and waits until it answers GET /time.
func StartLibcoap(t testing.TB, bin string, args ...string) *Libcoap {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		MissingServer(t, "%s not found (Debian package libcoap3-bin): %v", bin, err)
	}
	// A port can be taken between choosing and binding; try a few.
	var lastOut string
	for range 3 {
		port := freePortPair(t)
		p := Command(t, exec.Command(path, append([]string{"-A", "127.0.0.1", "-p", strconv.Itoa(port), "-v", "4"}, args...)...))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.Await(ctx, 50*time.Millisecond, "answer to GET /time", func() bool { return libcoapAnswers(port) })
		cancel()
		if err == nil {
			return &Libcoap{Port: port}
		}
		p.Kill()
		lastOut = p.Output()
	}
	t.Fatalf("%s did not start; last output:\n%s", bin, lastOut)
	return nil
}

func libcoapAnswers(port int) bool {
	co, err := udp.Dial(fmt.Sprintf("127.0.0.1:%d", port), quietErrors())
	if err != nil {
		return false
	}
	defer co.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	resp, err := co.Get(ctx, "/time")
	if err != nil {
		return false
	}
	defer co.ReleaseMessage(resp)
	return resp.Code() == codes.Content
}

// quietErrors keeps go-coap from printing transport errors (its default),
// such as "connection refused" while the server is starting.
func quietErrors() options.ErrorsOpt { return options.WithErrors(func(error) {}) }

// Put replaces a resource's text with a go-coap client.
func (s *Libcoap) Put(t testing.TB, path, text string) {
	t.Helper()
	co, err := udp.Dial(fmt.Sprintf("127.0.0.1:%d", s.Port), quietErrors())
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := co.Put(ctx, path, message.TextPlain, bytes.NewReader([]byte(text)))
	if err != nil {
		t.Fatalf("PUT %s: %v", path, err)
	}
	defer co.ReleaseMessage(resp)
	if resp.Code() != codes.Changed && resp.Code() != codes.Created {
		t.Fatalf("PUT %s: %v, want 2.04 Changed", path, resp.Code())
	}
}

// freePortPair finds a port p such that p and p+1 are free for UDP and TCP
// on 127.0.0.1 (libcoap binds both, and DTLS on p+1).
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 50 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		_ = pc.Close()
		if p < 65535 && portsFree(p, p+1) {
			return p
		}
	}
	t.Fatal("no free pair of ports on 127.0.0.1")
	return 0
}

func portsFree(ports ...int) bool {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for _, p := range ports {
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		pc, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return false
		}
		closers = append(closers, pc.Close)
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return false
		}
		closers = append(closers, l.Close)
	}
	return true
}
