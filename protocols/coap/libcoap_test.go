package coap

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"

	"github.com/wotchain/wotchain/protocols"
)

// Tests against libcoap's example server (Debian libcoap3-bin 4.3.1), a
// CoAP implementation not written by us. Its resources: /time (text
// "Nov 25 01:18:36", observable, Max-Age 1, a notification every second)
// and /example_data (1500 bytes of text served with Block2, observable,
// replaced by PUT). The -openssl and -gnutls builds also serve coaps:// on
// port+1.

// libcoapTime is how /time renders the clock ("%b %d %H:%M:%S").
var libcoapTime = regexp.MustCompile(`^[A-Z][a-z]{2} [ 0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9]$`)

// libcoapExampleData is /example_data before any PUT: "a123456789",
// "b123456789", ... cycling through the alphabet, 1500 bytes.
func libcoapExampleData() string {
	var b strings.Builder
	for i := range 150 {
		b.WriteByte(byte('a' + i%26))
		b.WriteString("123456789")
	}
	return b.String()
}

func TestLibcoapGET(t *testing.T) {
	srv := startLibcoap(t, "coap-server-notls")
	url := fmt.Sprintf("coap://127.0.0.1:%d", srv.port)
	src := newLibcoapSource(t, Config{URL: url, Points: []Point{
		{Name: "data", Path: "/example_data", Format: FormatString},
		{Name: "time", Path: "/time", Format: FormatString},
	}})
	got := poll(t, src)
	if s := got["data"]; s.Quality != protocols.Good || s.Value != libcoapExampleData() {
		t.Fatalf("/example_data (Block2, 1500 bytes): %v %q %.60q...", s.Quality, s.Reason, s.Value)
	}
	if s := got["time"]; s.Quality != protocols.Good || !libcoapTime.MatchString(fmt.Sprint(s.Value)) {
		t.Fatalf("/time: %+v, want libcoap's clock text", s)
	}

	srv.put(t, "/example_data", "42.5")
	for _, confirmable := range []bool{true, false} {
		src := newLibcoapSource(t, Config{URL: url, Confirmable: ptr(confirmable), Points: []Point{
			{Name: "data", Path: "/example_data", Unit: "bar"},
		}})
		if s := poll(t, src)["data"]; s.Quality != protocols.Good || s.Value != 42.5 || s.Unit != "bar" {
			t.Fatalf("confirmable=%v: /example_data after PUT 42.5: %+v", confirmable, s)
		}
	}
}

func TestLibcoapObserve(t *testing.T) {
	srv := startLibcoap(t, "coap-server-notls")
	srv.put(t, "/example_data", "1")
	src := newLibcoapSource(t, Config{URL: fmt.Sprintf("coap://127.0.0.1:%d", srv.port), Observe: true, Points: []Point{
		{Name: "time", Path: "/time", Format: FormatString},
		{Name: "data", Path: "/example_data"},
	}})
	pollList(t, src) // registers both
	srv.put(t, "/example_data", "2")
	srv.put(t, "/example_data", "3")

	got := collect(t, src, 5*time.Second, func(all []protocols.Sample) bool {
		return len(valuesOf(all, "time")) >= 2 && len(valuesOf(all, "data")) >= 2
	})
	if data := valuesOf(got, "data"); !slices.Equal(data, []any{int64(2), int64(3)}) {
		t.Errorf("/example_data notifications = %v, want [2 3]", data)
	}
	var last time.Time
	for _, s := range got {
		if s.Point != "time" {
			continue
		}
		if s.Quality != protocols.Good || !libcoapTime.MatchString(fmt.Sprint(s.Value)) || !s.Received.After(last) {
			t.Errorf("/time notification %+v, want Good clock text received after %v", s, last)
		}
		last = s.Received
	}
	// Two registrations and nothing else: the values came as notifications.
	if st := src.Stats(); st.RequestsTotal != 2 || !st.Connected {
		t.Errorf("stats %+v, want 2 requests in all", st)
	}
}

func TestLibcoapDTLSPSK(t *testing.T) {
	const identity, key = "wotchain-appliance", "libcoap-test-key"
	for _, bin := range []string{"coap-server-openssl", "coap-server-gnutls"} {
		t.Run(bin, func(t *testing.T) {
			srv := startLibcoap(t, bin, "-k", key, "-h", "libcoap")
			url := fmt.Sprintf("coaps://127.0.0.1:%d", srv.port+1)
			src := newLibcoapSource(t, Config{URL: url, PSKIdentity: identity, PSKKeyFile: writeSecret(t, key, 0o600),
				Points: []Point{{Name: "data", Path: "/example_data", Format: FormatString}}})
			if s := poll(t, src)["data"]; s.Quality != protocols.Good || s.Value != libcoapExampleData() {
				t.Fatalf("/example_data over DTLS-PSK: %v %q", s.Quality, s.Reason)
			}

			wrong := newLibcoapSource(t, Config{URL: url, PSKIdentity: identity, PSKKeyFile: writeSecret(t, "not-the-key", 0o600),
				Points: []Point{{Name: "data", Path: "/example_data"}}})
			_, err := wrong.Poll(context.Background())
			if err == nil || !strings.Contains(err.Error(), `coap device "libcoap"`) || !strings.Contains(err.Error(), "DTLS handshake") {
				t.Fatalf("wrong PSK: %v, want a handshake error naming the device", err)
			}
		})
	}
}

func TestLibcoapDTLSCertificates(t *testing.T) {
	pki := newTestPKI(t)
	// -C makes the server require a client certificate from that CA.
	srv := startLibcoap(t, "coap-server-openssl", "-c", pki.serverCertFile, "-j", pki.serverKey, "-C", pki.caFile)
	src := newLibcoapSource(t, Config{URL: fmt.Sprintf("coaps://127.0.0.1:%d", srv.port+1),
		CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile, ServerName: serverName,
		Points: []Point{{Name: "time", Path: "/time", Format: FormatString}}})
	if s := poll(t, src)["time"]; s.Quality != protocols.Good || !libcoapTime.MatchString(fmt.Sprint(s.Value)) {
		t.Fatalf("/time over DTLS with certificates: %+v", s)
	}
}

func newLibcoapSource(t *testing.T, cfg Config) *Source {
	t.Helper()
	src, err := New(cfg, protocols.Options{DeviceID: "libcoap", Timeout: time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// libcoapServer is a running libcoap example server.
type libcoapServer struct {
	port int // coap:// here, coaps:// on port+1
}

// startLibcoap starts bin on 127.0.0.1 with free ports and waits until it
// answers. It is killed when the test ends, and dies with the test process.
func startLibcoap(t *testing.T, bin string, args ...string) *libcoapServer {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		missingPeer(t, "%s not found (Debian package libcoap3-bin): %v", bin, err)
	}
	// A port can be taken between choosing and binding; try a few.
	var lastOut string
	for range 3 {
		port := freePortPair(t)
		out := &lockedBuffer{}
		cmd := exec.Command(path, append([]string{"-A", "127.0.0.1", "-p", strconv.Itoa(port), "-v", "4"}, args...)...)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		if waitLibcoap(port, exited) {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("%s output:\n%s", bin, out.String())
				}
			})
			return &libcoapServer{port: port}
		}
		stop()
		lastOut = out.String()
	}
	t.Fatalf("%s did not start; last output:\n%s", bin, lastOut)
	return nil
}

// waitLibcoap polls GET /time until the server answers, exits, or 5s pass.
func waitLibcoap(port int, exited <-chan struct{}) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if co, err := udp.Dial(fmt.Sprintf("127.0.0.1:%d", port), quietErrors()); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			resp, err := co.Get(ctx, "/time")
			cancel()
			ok := err == nil && resp.Code() == codes.Content
			if err == nil {
				co.ReleaseMessage(resp)
			}
			_ = co.Close()
			if ok {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// quietErrors keeps go-coap from printing transport errors (its default),
// such as "connection refused" while the server is starting.
func quietErrors() options.ErrorsOpt { return options.WithErrors(func(error) {}) }

// put replaces a resource's text with a go-coap client.
func (s *libcoapServer) put(t *testing.T, path, text string) {
	t.Helper()
	co, err := udp.Dial(fmt.Sprintf("127.0.0.1:%d", s.port), quietErrors())
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
func freePortPair(t *testing.T) int {
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

// missingPeer skips a test whose third-party server is not installed,
// except under CI=true, where every test must run.
func missingPeer(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("required third-party CoAP server missing under CI: %s", msg)
	}
	t.Skipf("skipping: %s", msg)
}

// lockedBuffer collects a server's output, bounded so a chatty server
// cannot exhaust memory.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 1<<20 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
