package coapsim

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
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
	co, err := udp.Dial(sim.Addr())
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
