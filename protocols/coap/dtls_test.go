package coap

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/coap/coapsim"
)

const (
	testIdentity = "appliance-1"
	testPSK      = "correct horse battery staple"
)

func TestDTLSPSK(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0", coapsim.WithPSK(testIdentity, []byte(testPSK)))
	if !strings.HasPrefix(sim.URL(), "coaps://") {
		t.Fatalf("URL %q, want coaps://", sim.URL())
	}
	t.Run("key file", func(t *testing.T) {
		src := newSourceCfg(t, Config{URL: sim.URL(), PSKIdentity: testIdentity,
			PSKKeyFile: writeSecret(t, testPSK+"\n", 0o600), Points: demoPoints()})
		got := poll(t, src)
		if s := got["co2"]; s.Quality != protocols.Good || s.Value != int64(415) {
			t.Fatalf("co2 over DTLS: %+v", s)
		}
	})
	t.Run("environment, hex, observe and blockwise", func(t *testing.T) {
		t.Setenv("WOTCHAIN_TEST_COAP_PSK", "636f727265637420686f727365206261747465727920737461706c65") // testPSK
		src := newSourceCfg(t, Config{URL: sim.URL(), PSKIdentity: testIdentity, PSKKeyEnv: "WOTCHAIN_TEST_COAP_PSK",
			PSKKeyEncoding: EncodingHex, Points: []Point{
				{Name: "door", Path: coapsim.PathDoor, Observe: ptr(true)},
				{Name: "total", Path: coapsim.PathLarge, Format: FormatJSON, Field: "total"},
			}})
		got := poll(t, src)
		if s := got["total"]; s.Quality != protocols.Good {
			t.Fatalf("blockwise over DTLS: %+v", s)
		}
		sim.Tick()
		sim.Tick()
		all := collect(t, src, 2*time.Second, countOf("door", 2))
		if door := valuesOf(all, "door"); !slices.Equal(door[:2], []any{true, false}) {
			t.Fatalf("notifications over DTLS: door = %v", door)
		}
	})
}

func TestDTLSWrongPSKFailsCleanly(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0", coapsim.WithPSK(testIdentity, []byte(testPSK)))
	for _, tt := range []struct{ name, identity, key string }{
		{"wrong key", testIdentity, "incorrect horse"},
		{"unknown identity", "intruder", testPSK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := newSourceCfg(t, Config{URL: sim.URL(), PSKIdentity: tt.identity,
				PSKKeyFile: writeSecret(t, tt.key, 0o600), Points: demoPoints()})
			start := time.Now()
			samples, err := src.Poll(context.Background())
			if err == nil {
				t.Fatalf("Poll with a wrong PSK succeeded: %s", describeSamples(samples))
			}
			for _, want := range []string{`coap device "test-device"`, "DTLS handshake with " + sim.Addr()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q reveals the key", err)
			}
			if d := time.Since(start); d > 2*testTimeout {
				t.Errorf("failing poll took %v, want about one timeout at most", d)
			}
			if st := src.Stats(); st.Connected {
				t.Errorf("stats %+v, want disconnected", st)
			}
		})
	}
}

func TestDTLSCertificates(t *testing.T) {
	pki := newTestPKI(t)
	sim := startSim(t, "127.0.0.1:0", coapsim.WithCertificate(pki.Server, pki.Pool)) // requires a client certificate
	good := Config{URL: sim.URL(), CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile,
		ServerName: serverName, Points: demoPoints()}

	t.Run("mutual", func(t *testing.T) {
		got := poll(t, newSourceCfg(t, good))
		if s := got["temperature"]; s.Quality != protocols.Good || s.Value != 22.5 {
			t.Fatalf("temperature over DTLS with certificates: %+v", s)
		}
	})
	t.Run("server name defaults to the URL host", func(t *testing.T) {
		c := good
		c.ServerName = "" // 127.0.0.1 is in the device certificate
		if s := poll(t, newSourceCfg(t, c))["co2"]; s.Quality != protocols.Good {
			t.Fatalf("co2: %+v", s)
		}
	})

	other := newTestPKI(t)
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"wrong server name", func(c *Config) { c.ServerName = "other.test" }},
		{"untrusted device CA", func(c *Config) { c.CAFile = other.CAFile }},
		{"client certificate from another CA", func(c *Config) { c.CertFile, c.KeyFile = other.ClientCertFile, other.ClientKeyFile }},
		{"no client certificate", func(c *Config) { c.CertFile, c.KeyFile = "", "" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			_, err := newSourceCfg(t, c).Poll(context.Background())
			if err == nil || !strings.Contains(err.Error(), `coap device "test-device"`) || !strings.Contains(err.Error(), "DTLS handshake") {
				t.Fatalf("Poll error = %v, want a handshake failure naming the device", err)
			}
		})
	}
}

func TestNewRefusesUnreadableCredentials(t *testing.T) {
	_, err := New(Config{URL: "coaps://127.0.0.1", PSKIdentity: "a", PSKKeyFile: writeSecret(t, testPSK, 0o644),
		Points: demoPoints()}, protocols.Options{DeviceID: "dev-7"})
	if err == nil || !strings.Contains(err.Error(), `coap device "dev-7": psk_key_file`) {
		t.Fatalf("New error = %v, want the device and key named", err)
	}
}

// TestDTLSRecoversAfterDeviceRestart: a rebooted device has lost the DTLS
// session, so the source must notice, handshake again and observe again.
func TestDTLSRecoversAfterDeviceRestart(t *testing.T) {
	psk := coapsim.WithPSK(testIdentity, []byte(testPSK))
	sim := startSim(t, "127.0.0.1:0", psk)
	addr := sim.Addr()
	src := newSourceCfg(t, Config{URL: sim.URL(), PSKIdentity: testIdentity, PSKKeyFile: writeSecret(t, testPSK, 0o600),
		ObserveTimeout: Duration(200 * time.Millisecond), Points: []Point{
			{Name: "door", Path: coapsim.PathDoor, Observe: ptr(true)},
			{Name: "humidity", Path: coapsim.PathHumidity},
		}})
	pollList(t, src)
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	restarted := startSim(t, addr, psk)
	restarted.Tick()

	deadline := time.Now().Add(5 * time.Second)
	for {
		samples, err := src.Poll(context.Background()) // fails until the stale session is dropped
		if err == nil && slices.Contains(valuesOf(samples, "door"), any(true)) &&
			slices.Contains(valuesOf(samples, "humidity"), any(45.4)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after the restart: %v %s", err, describeSamples(samples))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := src.Stats(); !st.Connected || st.Reconnects == 0 {
		t.Fatalf("stats %+v, want connected after a reconnection", st)
	}
}
