package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/protocols"
)

var quiet = slog.New(slog.DiscardHandler)

// keysConfig is an appliance on the embedded ledger in a temporary
// directory.
func keysConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "a.yaml"), []byte(`appliance:
  id: a-1
  data_dir: data
devices:
  - id: f1
    protocol: fake
    fake: {value: 2.5}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// started opens the appliance as `run` does (registered on its ledger),
// stores polls readings signed by its key, and closes it.
func started(t *testing.T, cfg *config.Config, polls int) ed25519.PublicKey {
	t.Helper()
	n, err := Open(cfg, quiet, false)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.ensureRegistered(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(n.Store, cfg.Appliance.ID, n.Signing, nil, ingest.WithFormat(2))
	if err != nil {
		t.Fatal(err)
	}
	for i := range polls {
		if _, _, err := in.Ingest("f1", []protocols.Sample{{Point: "v", Value: float64(i), Quality: protocols.Good}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return n.Signing.Public().(ed25519.PublicKey)
}

func signPath(cfg *config.Config) string { return cfg.Resolve(cfg.Appliance.SigningKey) }

// rotate-key on the embedded ledger: the pending polls are sealed under
// the old key, the ledger takes the new key from the next height, the old
// key is retired, and the next start runs with the new key.
func TestRotateKeyEmbedded(t *testing.T) {
	cfg := keysConfig(t)
	oldPub := started(t, cfg, 3)
	n, err := OpenKeys(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r, err := n.RotateKey(context.Background(), n.KeyAdmin(), quiet)
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	if len(r.Sealed) != 1 || r.Sealed[0].KeyID != format.KeyID(oldPub) || r.FromHeight != 1 || r.OldID != format.KeyID(oldPub) {
		t.Fatalf("rotation %+v, sealed %v", r, r.Sealed)
	}
	if format.VerifyHeaderSig(oldPub, r.Sealed[0].Header, r.Sealed[0].HeaderSig) != nil {
		t.Fatal("the pending polls were not sealed under the old key")
	}
	a := r.Appliance
	if k, ok := a.KeyForHeight(0); !ok || k.ID != r.OldID {
		t.Fatalf("ledger key of height 0: %+v", k)
	}
	if k, ok := a.KeyForHeight(1); !ok || k.ID != r.NewID {
		t.Fatalf("ledger key of height 1: %+v", k)
	}
	// The block sealed under the old key waits in the outbox: revoking
	// that key now would strand it.
	if stranded, err := UnanchoredBlocks(n.Store, a, r.OldID); err != nil || len(stranded) != 1 || stranded[0] != 0 {
		t.Fatalf("unanchored blocks of the old key: %v, %v", stranded, err)
	}
	if stranded, _ := UnanchoredBlocks(n.Store, a, r.NewID); len(stranded) != 0 {
		t.Fatalf("unanchored blocks of the new key: %v", stranded)
	}
	n.Close()

	n, err = Open(cfg, quiet, false)
	if err != nil {
		t.Fatalf("start after the rotation: %v", err)
	}
	defer n.Close()
	if got := format.KeyID(n.Signing.Public().(ed25519.PublicKey)); got != r.NewID {
		t.Fatalf("started with key %s, want %s", got, r.NewID)
	}
	if len(n.Retired) != 1 || !n.Retired[0].Public().(ed25519.PublicKey).Equal(oldPub) {
		t.Fatalf("retired keys %d, want the old one", len(n.Retired))
	}
}

// A rotation interrupted after the ledger registered the new key is
// finished by the next start; one interrupted before is undone.
func TestInterruptedRotation(t *testing.T) {
	for _, registered := range []bool{true, false} {
		cfg := keysConfig(t)
		oldPub := started(t, cfg, 1)
		n, err := OpenKeys(cfg, quiet)
		if err != nil {
			t.Fatal(err)
		}
		next, err := keys.GeneratePending(signPath(cfg))
		if err != nil {
			t.Fatal(err)
		}
		nextPub := next.Public().(ed25519.PublicKey)
		if registered {
			if _, err := n.KeyAdmin().RotateApplianceKey(context.Background(), cfg.Appliance.ID, nextPub, 0); err != nil {
				t.Fatal(err)
			}
		}
		n.Close() // the crash

		n, err = Open(cfg, quiet, false)
		if err != nil {
			t.Fatalf("registered=%v: start after the interrupted rotation: %v", registered, err)
		}
		want := oldPub
		if registered {
			want = nextPub
		}
		if !n.Signing.Public().(ed25519.PublicKey).Equal(want) {
			t.Errorf("registered=%v: started with the wrong key", registered)
		}
		if _, err := os.Stat(keys.PendingPath(signPath(cfg))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("registered=%v: pending key left: %v", registered, err)
		}
		_, err = os.Stat(keys.RetiredPath(signPath(cfg), format.KeyID(oldPub)))
		if registered != (err == nil) {
			t.Errorf("registered=%v: retired old key: %v", registered, err)
		}
		n.Close()
	}
}

// Without its key file, an appliance whose readings are not sealed yet
// cannot have its key replaced (only the lost key can seal them); a first
// start generates the key.
func TestRotateLostKeyWithPendingReadingsRefused(t *testing.T) {
	cfg := keysConfig(t)
	started(t, cfg, 2)
	if err := os.Remove(signPath(cfg)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg, quiet, false); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("start without the key: %v", err)
	}
	n, err := OpenKeys(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.RotateKey(context.Background(), n.KeyAdmin(), quiet); err == nil || !strings.Contains(err.Error(), "readings 1..2") {
		t.Fatalf("rotating a lost key over pending readings: %v", err)
	}
	if _, err := os.Stat(keys.PendingPath(signPath(cfg))); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused rotation wrote a key: %v", err)
	}
}
