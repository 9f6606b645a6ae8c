package opcua_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/opcua"
)

// The node-opcua server's namespace (see testdata/opcua-server/server.js);
// testserver.StartNodeOPCUA runs it.
const nodeNamespace = "urn:wotchain:test-server"

func nodeID(name string) string { return "nsu=" + nodeNamespace + ";s=Plant." + name }

// knownPoints are server.js's constant variables and their values.
func knownPoints() ([]opcua.Point, map[string]any) {
	return []opcua.Point{
			{Name: "double", NodeID: nodeID("Double")},
			{Name: "int32", NodeID: nodeID("Int32")},
			{Name: "boolean", NodeID: nodeID("Boolean")},
			{Name: "string", NodeID: nodeID("String")},
		}, map[string]any{
			"double": 3.25, "int32": int64(-42), "boolean": true, "string": "hello opc ua",
		}
}

func checkKnownValues(t *testing.T, samples []protocols.Sample) {
	t.Helper()
	_, want := knownPoints()
	got := byPoint(samples)
	for name, v := range want {
		s := got[name]
		if len(s) != 1 || s[0].Quality != protocols.Good || s[0].Value != v {
			t.Errorf("%s = %+v, want one good %#v", name, s, v)
		}
	}
}

func passwordFile(t *testing.T, password string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNodeOPCUA runs the client against node-opcua, an OPC UA server not
// written by us. One server serves all subtests, which run in parallel
// with their own state directories.
func TestNodeOPCUA(t *testing.T) {
	srv := testserver.StartNodeOPCUA(t)
	points, _ := knownPoints()

	t.Run("ReadSecurityNone", func(t *testing.T) {
		t.Parallel()
		src := newSourceCfg(t, opcua.Config{Endpoint: srv.Endpoint, Points: points}, "")
		checkKnownValues(t, pollUntilOK(t, src, 10*time.Second))
		if st := src.Stats(); !st.Connected || st.Reconnects != 0 || st.RequestsTotal != 5 {
			t.Errorf("Stats = %+v, want connected, 0 reconnects, 5 requests", st)
		}
	})

	t.Run("SignAndEncryptNeedsTrust", func(t *testing.T) {
		t.Parallel()
		state := t.TempDir()
		cfg := opcua.Config{
			Endpoint: srv.Endpoint, SecurityPolicy: opcua.PolicyBasic256Sha256, SecurityMode: opcua.ModeSignAndEncrypt,
			Points: points,
		}
		src := newSourceCfg(t, cfg, state)

		// The server's certificate is not trusted yet: refused, and saved
		// for the operator under rejected/.
		_, err := src.Poll(t.Context())
		var ue *opcua.UntrustedCertificateError
		if !errors.As(err, &ue) {
			t.Fatalf("first Poll: err = %v, want *UntrustedCertificateError", err)
		}
		if filepath.Dir(ue.Path) != filepath.Join(state, "rejected") || !strings.Contains(err.Error(), ue.Path) {
			t.Fatalf("error %q should name the file written under rejected/", err)
		}
		der, err := os.ReadFile(ue.Path)
		if err != nil {
			t.Fatalf("rejected certificate: %v", err)
		}
		if cert, err := x509.ParseCertificate(der); err != nil || len(cert.URIs) == 0 {
			t.Fatalf("rejected file is not the server's application certificate: %v", err)
		}
		if entries, _ := os.ReadDir(filepath.Join(state, "trusted")); len(entries) != 0 {
			t.Fatalf("trusted/ holds %d files without trust_on_first_use", len(entries))
		}

		// The operator's move is picked up at the next reconnect.
		if err := os.Rename(ue.Path, filepath.Join(state, "trusted", filepath.Base(ue.Path))); err != nil {
			t.Fatal(err)
		}
		checkKnownValues(t, pollUntilOK(t, src, 10*time.Second))
		checkOwnCert(t, state)
	})

	t.Run("OtherPoliciesTrustOnFirstUse", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct{ policy, mode string }{
			{opcua.PolicyAes128Sha256RsaOaep, opcua.ModeSign},
			{opcua.PolicyAes256Sha256RsaPss, opcua.ModeSignAndEncrypt},
			{opcua.PolicyBasic256Sha256, opcua.ModeSign},
		} {
			state := t.TempDir()
			src := newSourceCfg(t, opcua.Config{
				Endpoint: srv.Endpoint, SecurityPolicy: c.policy, SecurityMode: c.mode, TrustOnFirstUse: true, Points: points,
			}, state)
			samples, err := src.Poll(t.Context())
			if err != nil {
				t.Errorf("%s/%s: %v", c.policy, c.mode, err)
				continue
			}
			checkKnownValues(t, samples)
			if entries, _ := os.ReadDir(filepath.Join(state, "trusted")); len(entries) != 1 {
				t.Errorf("%s/%s: trusted/ holds %d files after trust on first use, want 1", c.policy, c.mode, len(entries))
			}
		}
	})

	t.Run("UserPassword", func(t *testing.T) {
		t.Parallel()
		src := newSourceCfg(t, opcua.Config{
			Endpoint: srv.Endpoint, SecurityPolicy: opcua.PolicyBasic256Sha256, SecurityMode: opcua.ModeSignAndEncrypt,
			TrustOnFirstUse: true, Username: srv.User, PasswordFile: passwordFile(t, srv.Password), Points: points,
		}, "")
		checkKnownValues(t, pollUntilOK(t, src, 10*time.Second))
	})

	t.Run("UserPasswordOverNone", func(t *testing.T) {
		t.Parallel()
		src := newSourceCfg(t, opcua.Config{
			Endpoint: srv.Endpoint, Username: srv.User, PasswordFile: passwordFile(t, srv.Password), Points: points,
		}, "")
		checkKnownValues(t, pollUntilOK(t, src, 10*time.Second))
	})

	t.Run("WrongPassword", func(t *testing.T) {
		t.Parallel()
		src := newSourceCfg(t, opcua.Config{
			Endpoint: srv.Endpoint, SecurityPolicy: opcua.PolicyBasic256Sha256, SecurityMode: opcua.ModeSignAndEncrypt,
			TrustOnFirstUse: true, Username: srv.User, PasswordFile: passwordFile(t, "not-the-password"), Points: points,
		}, "")
		_, err := src.Poll(t.Context())
		if err == nil || !strings.Contains(err.Error(), `rejected user "user1": wrong user name or password?`) {
			t.Fatalf("wrong password: err = %v, want a clear rejection", err)
		}
		if strings.Contains(err.Error(), "not-the-password") {
			t.Fatalf("error leaks the password: %v", err)
		}
	})

	t.Run("UserCertificate", func(t *testing.T) {
		t.Parallel()
		certFile, keyFile := userCert(t)
		src := newSourceCfg(t, opcua.Config{
			Endpoint: srv.Endpoint, SecurityPolicy: opcua.PolicyBasic256Sha256, SecurityMode: opcua.ModeSignAndEncrypt,
			TrustOnFirstUse: true, UserCertFile: certFile, UserKeyFile: keyFile, Points: points,
		}, "")
		checkKnownValues(t, pollUntilOK(t, src, 10*time.Second))
	})

	t.Run("SubscriptionGetsEveryChange", func(t *testing.T) {
		t.Parallel()
		src := newSourceCfg(t, opcua.Config{
			Endpoint: srv.Endpoint,
			Subscription: opcua.Subscription{
				PublishingInterval: opcua.Duration(200 * time.Millisecond), SamplingInterval: dur(0),
			},
			Points: []opcua.Point{{Name: "counter", NodeID: nodeID("Counter"), Mode: opcua.ModeSubscribe}},
		}, "")
		pollUntilOK(t, src, 10*time.Second)
		// The counter changes every 100 ms; one poll after 1.5 s must hold
		// every value since the previous one, in order.
		time.Sleep(1500 * time.Millisecond)
		testserver.WaitFor(t, 5*time.Second, "a first notification", func() bool { return src.Buffered() > 0 })
		pollUntilOK(t, src, time.Second) // drains the initial value and whatever came with it
		time.Sleep(1500 * time.Millisecond)
		c := byPoint(pollUntilOK(t, src, time.Second))["counter"]
		if len(c) < 8 {
			t.Fatalf("counter: %d samples in 1.5 s, want at least 8 (one every 100 ms)", len(c))
		}
		for i, s := range c {
			if s.Quality != protocols.Good || s.Received.IsZero() || s.SourceTime.IsZero() {
				t.Errorf("counter[%d] = %+v, want good with receive and source times", i, s)
			}
			if i > 0 && s.Value != c[i-1].Value.(int64)+1 {
				t.Errorf("counter[%d] = %v after %v: a change was lost or reordered", i, s.Value, c[i-1].Value)
			}
		}
	})

	t.Run("Deadband", func(t *testing.T) {
		t.Parallel()
		// Sawtooth steps by 0.1 every 100 ms and jumps at each multiple
		// of 10 (EURange 0..100).
		src := newSourceCfg(t, opcua.Config{
			Endpoint: srv.Endpoint,
			Mode:     opcua.ModeSubscribe,
			Subscription: opcua.Subscription{
				PublishingInterval: opcua.Duration(200 * time.Millisecond), SamplingInterval: dur(0),
			},
			Points: []opcua.Point{
				{Name: "raw", NodeID: nodeID("Sawtooth")},
				{Name: "absolute", NodeID: nodeID("Sawtooth"), DeadbandAbsolute: 1},
				{Name: "percent", NodeID: nodeID("Sawtooth"), DeadbandPercent: 5}, // 5 of 100
			},
		}, "")
		pollUntilOK(t, src, 10*time.Second)
		time.Sleep(2500 * time.Millisecond) // 25 steps: at least two jumps
		got := byPoint(pollUntilOK(t, src, time.Second))
		raw := got["raw"]
		if len(raw) < 15 {
			t.Fatalf("raw: %d samples in 2.5 s, want at least 15 (one every 100 ms)", len(raw))
		}
		for _, name := range []string{"absolute", "percent"} {
			s := got[name]
			if len(s) < 2 || len(s) > 5 {
				t.Errorf("%s: %d samples, want the first value and one per jump (2 to 5); raw had %d", name, len(s), len(raw))
				continue
			}
			for i := 1; i < len(s); i++ {
				v, prev := s[i].Value.(float64), s[i-1].Value.(float64)
				if math.Abs(v-prev) <= 1 || math.Mod(v, 10) != 0 {
					t.Errorf("%s[%d] = %v after %v: a change within the deadband was reported", name, i, v, prev)
				}
			}
		}
	})

	t.Run("Browse", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		u, _ := url.Parse(srv.Endpoint)
		err := opcua.Browse(t.Context(), "opcua://"+u.Host, opcua.BrowseOptions{
			MaxDepth: 2, NamespaceURIs: true, Timeout: testTimeout, Logger: testLogger(t),
		}, &out)
		if err != nil {
			t.Fatalf("Browse: %v", err)
		}
		for name, typ := range map[string]string{
			"Double": "Double", "Int32": "Int32", "Boolean": "Boolean", "String": "String", "Counter": "Int32", "Sawtooth": "Double",
		} {
			line := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(nodeID(name)) + `\s+\d+:` + name + `\s+Variable\s+` + typ + `\s*$`)
			if !line.MatchString(out.String()) {
				t.Errorf("no line for %s (Variable, %s) under Plant:\n%s", nodeID(name), typ, out.String())
			}
		}
		if !strings.Contains(out.String(), "nsu="+nodeNamespace+";s=Plant ") {
			t.Errorf("the Plant folder is not listed:\n%s", out.String())
		}
	})
}

// checkOwnCert checks the application certificate generated on first
// start: RSA, the application URI in the subjectAltName, key mode 0600.
func checkOwnCert(t *testing.T, state string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "own", "cert.pem"))
	if err != nil {
		t.Fatalf("application certificate: %v", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("own/cert.pem is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok || len(cert.URIs) != 1 || !strings.HasPrefix(cert.URIs[0].String(), "urn:") {
		t.Errorf("application certificate: key %T, URIs %v; want RSA with one urn: application URI", cert.PublicKey, cert.URIs)
	}
	fi, err := os.Stat(filepath.Join(state, "own", "key.pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("own/key.pem: %v, want mode 0600", err)
	}
}

// userCert writes a self-signed X.509 user certificate and its key.
func userCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "wotchain test user"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "user.pem"), filepath.Join(dir, "user.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
