package coap

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/options"

	"github.com/wotchain/wotchain/internal/testserver"
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
	srv := testserver.StartLibcoap(t, "coap-server-notls")
	url := fmt.Sprintf("coap://127.0.0.1:%d", srv.Port)
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

	srv.Put(t, "/example_data", "42.5")
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
	srv := testserver.StartLibcoap(t, "coap-server-notls")
	srv.Put(t, "/example_data", "1")
	src := newLibcoapSource(t, Config{URL: fmt.Sprintf("coap://127.0.0.1:%d", srv.Port), Observe: true, Points: []Point{
		{Name: "time", Path: "/time", Format: FormatString},
		{Name: "data", Path: "/example_data"},
	}})
	pollList(t, src) // registers both
	srv.Put(t, "/example_data", "2")
	srv.Put(t, "/example_data", "3")

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
			srv := testserver.StartLibcoap(t, bin, "-k", key, "-h", "libcoap")
			url := fmt.Sprintf("coaps://127.0.0.1:%d", srv.Port+1)
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
	srv := testserver.StartLibcoap(t, "coap-server-openssl", "-c", pki.ServerCertFile, "-j", pki.ServerKeyFile, "-C", pki.CAFile)
	src := newLibcoapSource(t, Config{URL: fmt.Sprintf("coaps://127.0.0.1:%d", srv.Port+1),
		CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, ServerName: serverName,
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

// quietErrors keeps go-coap from printing transport errors (its default),
// such as "connection refused" while the server is starting.
func quietErrors() options.ErrorsOpt { return options.WithErrors(func(error) {}) }
