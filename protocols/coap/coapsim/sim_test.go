package coapsim

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	piondtls "github.com/pion/dtls/v3"
	dtlsnet "github.com/pion/dtls/v3/pkg/net"
	coapdtls "github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	"github.com/plgd-dev/go-coap/v3/udp/client"
)

func start(t *testing.T) (*Sim, *client.Conn) {
	t.Helper()
	sim, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	if !strings.HasPrefix(sim.URL(), "coap://127.0.0.1:") || strings.HasSuffix(sim.Addr(), ":0") {
		t.Fatalf("URL %q / Addr %q should carry the real port", sim.URL(), sim.Addr())
	}
	co, err := udp.Dial(sim.Addr(), options.WithErrors(func(error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = co.Close() })
	return sim, co
}

func get(t *testing.T, co *client.Conn, path string) (codes.Code, message.MediaType, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := co.Get(ctx, path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer co.ReleaseMessage(resp)
	cf, _ := resp.ContentFormat()
	body, err := resp.ReadBody()
	if err != nil {
		t.Fatal(err)
	}
	return resp.Code(), cf, string(body)
}

func TestStartRejectsNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "[::1]:0", "nonsense"} {
		if sim, err := Start(addr, nil); err == nil {
			_ = sim.Close()
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
}

func TestDemoResources(t *testing.T) {
	sim, co := start(t)
	tests := []struct {
		path   string
		format message.MediaType
		step0  string
		step1  string
	}{
		{PathHumidity, message.TextPlain, "45.0", "45.4"},
		{PathEnv, message.AppJSON,
			`{"temperature": 22.5, "co2": 415, "fan": true, "site": "line-1"}`,
			`{"temperature": 23.0, "co2": 420, "fan": true, "site": "line-1"}`},
		{PathDoor, message.TextPlain, "false", "true"},
	}
	for step := range 2 {
		for _, tt := range tests {
			code, cf, body := get(t, co, tt.path)
			want := tt.step0
			if step == 1 {
				want = tt.step1
			}
			if code != codes.Content || cf != tt.format || body != want {
				t.Errorf("step %d %s: %v %v %q, want 2.05 %v %q", step, tt.path, code, cf, body, tt.format, want)
			}
		}
		sim.Tick()
	}
	if got := sim.Requests(PathEnv); got != 2 {
		t.Errorf("Requests(%s) = %d, want 2", PathEnv, got)
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	_, co := start(t)
	if code, _, _ := get(t, co, "/nope"); code != codes.NotFound {
		t.Errorf("unknown path: %v, want 4.04", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := co.Post(ctx, PathDoor, message.TextPlain, bytes.NewReader([]byte("true")))
	if err != nil {
		t.Fatal(err)
	}
	defer co.ReleaseMessage(resp)
	if resp.Code() != codes.MethodNotAllowed {
		t.Errorf("POST: %v, want 4.05", resp.Code())
	}
}

func TestSetOverridesAndAdds(t *testing.T) {
	sim, co := start(t)
	sim.Set(PathHumidity, "text", []byte("oops"))
	sim.Set("/extra/thing", "json", []byte(`{"v":1}`))
	sim.Tick() // overrides survive ticks
	if _, cf, body := get(t, co, PathHumidity); cf != message.TextPlain || body != "oops" {
		t.Errorf("override: %v %q", cf, body)
	}
	if code, cf, body := get(t, co, "/extra/thing"); code != codes.Content || cf != message.AppJSON || body != `{"v":1}` {
		t.Errorf("added: %v %v %q", code, cf, body)
	}
}

func TestRunTicksUntilCancelled(t *testing.T) {
	sim, co := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sim.Run(ctx, time.Millisecond) }()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, _, body := get(t, co, PathHumidity); body != "45.0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not change values")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestCloseIdempotent(t *testing.T) {
	sim, _ := start(t)
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTriangle(t *testing.T) {
	want := []int{0, 1, 2, 1, 0, -1, -2, -1, 0, 1}
	for i, w := range want {
		if got := triangle(i); got != w {
			t.Errorf("triangle(%d) = %d, want %d", i, got, w)
		}
	}
}

func TestObserveNotifiesEveryChangeInOrder(t *testing.T) {
	sim, co := start(t)
	type note struct {
		seq  uint32
		body string
	}
	notes := make(chan note, 16)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	obs, err := co.Observe(ctx, PathDoor, func(m *pool.Message) {
		seq, _ := m.Observe()
		body, _ := m.ReadBody()
		notes <- note{seq, string(body)}
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := sim.Observers(PathDoor); n != 1 {
		t.Fatalf("Observers = %d, want 1", n)
	}
	for range 4 {
		sim.Tick()
	}
	var got []string
	var last uint32
	for range 5 {
		select {
		case n := <-notes:
			if len(got) > 0 && n.seq <= last {
				t.Errorf("sequence %d after %d", n.seq, last)
			}
			last = n.seq
			got = append(got, n.body)
		case <-time.After(2 * time.Second):
			t.Fatalf("got %v, want 5 notifications", got)
		}
	}
	if want := []string{"false", "true", "false", "true", "false"}; !slices.Equal(got, want) {
		t.Fatalf("notifications %v, want %v", got, want)
	}
	if err := obs.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sim.Observers(PathDoor); n != 0 {
		t.Fatalf("Observers after cancel = %d, want 0", n)
	}
}

func TestForgetObserversAndDisableObserve(t *testing.T) {
	sim, co := start(t)
	notes := make(chan string, 16)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := co.Observe(ctx, PathHumidity, func(m *pool.Message) {
		body, _ := m.ReadBody()
		notes <- string(body)
	}); err != nil {
		t.Fatal(err)
	}
	<-notes // the registration response
	sim.ForgetObservers()
	sim.Tick()
	select {
	case n := <-notes:
		t.Fatalf("notification %q after ForgetObservers", n)
	case <-time.After(100 * time.Millisecond):
	}

	sim.DisableObserve(PathEnv)
	resp := observeOnce(t, co, PathEnv)
	if resp.HasOption(message.Observe) {
		t.Fatal("registration on a disabled path answered with Observe")
	}
	if n := sim.Observers(PathEnv); n != 0 {
		t.Fatalf("Observers = %d, want 0", n)
	}
}

func observeOnce(t *testing.T, co *client.Conn, path string) *pool.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := co.NewObserveRequest(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer co.ReleaseMessage(req)
	resp, err := co.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestSilenceAndNonConfirmable(t *testing.T) {
	sim, co := start(t)
	sim.Silence(PathDoor)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := co.Get(ctx, PathDoor); err == nil {
		t.Fatal("GET on a silenced path answered")
	}
	if n := sim.Requests(PathDoor); n != 1 {
		t.Fatalf("Requests = %d, want the silenced request counted", n)
	}

	req, err := co.NewGetRequest(context.Background(), PathHumidity)
	if err != nil {
		t.Fatal(err)
	}
	defer co.ReleaseMessage(req)
	req.SetType(message.NonConfirmable)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	req.SetContext(ctx2)
	resp, err := co.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	co.ReleaseMessage(resp)
	get(t, co, PathHumidity)
	if non, all := sim.NonConfirmable(PathHumidity), sim.Requests(PathHumidity); non != 1 || all != 2 {
		t.Fatalf("NON %d of %d requests, want 1 of 2", non, all)
	}
}

func TestNewResources(t *testing.T) {
	_, co := start(t)
	code, cf, body := get(t, co, PathCBOR)
	var doc map[any]any
	if err := cbor.Unmarshal([]byte(body), &doc); err != nil || code != codes.Content || cf != message.AppCBOR {
		t.Fatalf("%s: %v %v %v", PathCBOR, code, cf, err)
	}
	if doc["temperature"] != 22.5 || doc["status"] != "ok" || doc[uint64(7)] != "seven" {
		t.Errorf("CBOR document %v", doc)
	}

	_, cf, body = get(t, co, PathLarge)
	var large struct {
		Items []int `json:"items"`
		Total int   `json:"total"`
	}
	if err := json.Unmarshal([]byte(body), &large); err != nil || cf != message.AppJSON || len(large.Items) != LargeItems || len(body) < 2048 {
		t.Fatalf("%s: %d bytes, %d items, %v", PathLarge, len(body), len(large.Items), err)
	}

	_, cf, body = get(t, co, PathSenMLJSON)
	var pack []map[string]any
	if err := json.Unmarshal([]byte(body), &pack); err != nil || cf != message.AppSenmlJSON || len(pack) != 7 || pack[0]["bn"] != SenMLBaseName {
		t.Fatalf("%s: %v %v %s", PathSenMLJSON, cf, err, body)
	}
	_, cf, body = get(t, co, PathSenMLCBOR)
	var cpack []map[int]any
	if err := cbor.Unmarshal([]byte(body), &cpack); err != nil || cf != message.AppSenmlCbor || len(cpack) != 7 || cpack[0][-2] != SenMLBaseName {
		t.Fatalf("%s: %v %v", PathSenMLCBOR, cf, err)
	}
	if !bytes.Equal(cpack[6][8].([]byte), SenMLData()) {
		t.Errorf("vd = %v, want the data value as bytes", cpack[6][8])
	}
}

func TestDTLSPSKListener(t *testing.T) {
	sim, err := Start("127.0.0.1:0", nil, WithPSK("id", []byte("key")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	if !strings.HasPrefix(sim.URL(), "coaps://127.0.0.1:") {
		t.Fatalf("URL %q, want coaps://", sim.URL())
	}
	// Handshake explicitly, with a deadline: go-coap's lazy handshake
	// inside the first request waits without one when it fails.
	dial := func(key string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		var d net.Dialer
		pc, err := d.DialContext(ctx, "udp", sim.Addr())
		if err != nil {
			return err
		}
		dc, err := piondtls.ClientWithOptions(dtlsnet.PacketConnFromConn(pc), pc.RemoteAddr(),
			piondtls.WithPSK(func([]byte) ([]byte, error) { return []byte(key), nil }),
			piondtls.WithPSKIdentityHint([]byte("id")),
			piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8))
		if err != nil {
			_ = pc.Close()
			return err
		}
		if err := dc.HandshakeContext(ctx); err != nil {
			_ = dc.Close()
			return err
		}
		co := coapdtls.Client(dc, options.WithCloseSocket(), options.WithErrors(func(error) {}))
		defer co.Close()
		resp, err := co.Get(ctx, PathDoor)
		if err != nil {
			return err
		}
		co.ReleaseMessage(resp)
		return nil
	}
	if err := dial("key"); err != nil {
		t.Fatalf("right key: %v", err)
	}
	if err := dial("wrong"); err == nil {
		t.Fatal("wrong key accepted")
	}
}

func TestCloseWithUnresponsiveObserver(t *testing.T) {
	sim, co := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := co.Observe(ctx, PathDoor, func(*pool.Message) {}); err != nil {
		t.Fatal(err)
	}
	_ = co.Close() // the client vanishes; notifications will not be acknowledged
	sim.Tick()
	start := time.Now()
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v with a pending notification", d)
	}
}
