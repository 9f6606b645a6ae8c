// Package daemon wires the appliance together from its configuration: store,
// keys, ledger, storage, simulators, device loops and the pipeline.
package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Node is the appliance's opened state, shared by the daemon and the
// commands that inspect it (verify).
type Node struct {
	Cfg        *config.Config
	Store      *store.Store
	Signing    ed25519.PrivateKey
	Retired    []ed25519.PrivateKey // keys rotations replaced (keys/retired/), writable nodes only
	Owner      hpke.PrivateKey
	Recipients []hpke.PublicKey // owner first
	Ledger     Ledger
	Storage    Storage

	closeLedger func() error
}

// Storage holds encrypted block objects (filesystem or S3-compatible).
type Storage interface {
	Put(ctx context.Context, name string, data []byte) (string, error)
	PutNamed(ctx context.Context, name string, data []byte) (string, error)
	Get(ctx context.Context, location string) ([]byte, error)
	Location(name string) string
}

func openStorage(ctx context.Context, cfg *config.Config) (Storage, error) {
	if cfg.Storage.Kind != config.StorageS3 {
		return objstore.NewFS(cfg.Resolve(cfg.Storage.Filesystem.Dir))
	}
	sc := cfg.Storage.S3
	access, err := cfg.Secret("storage.s3 access key", sc.AccessKeyEnv, sc.AccessKeyFile)
	if err != nil {
		return nil, err
	}
	secret, err := cfg.Secret("storage.s3 secret key", sc.SecretKeyEnv, sc.SecretKeyFile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return objstore.NewS3(ctx, objstore.S3Config{
		Endpoint: sc.Endpoint, Bucket: sc.Bucket, Prefix: sc.Prefix, Region: sc.Region,
		TLS: *sc.TLS, CAFile: cfg.Resolve(sc.CAFile), AccessKey: access, SecretKey: secret, CreateBucket: sc.CreateBucket,
	})
}

// StoreDir is where the RocksDB database lives.
func StoreDir(cfg *config.Config) string {
	return filepath.Join(cfg.Resolve(cfg.Appliance.DataDir), "store")
}

// Open opens the node. A writable node creates missing keys on a first
// start and checks that the signing key is the store's (loadSigning); a
// read-only node needs the keys to exist and can run beside a live daemon.
func Open(cfg *config.Config, log *slog.Logger, readOnly bool) (*Node, error) {
	n := &Node{Cfg: cfg}
	var err error
	if readOnly {
		if n.Signing, err = keys.LoadSigning(cfg.Resolve(cfg.Appliance.SigningKey)); err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
	}
	if err := n.openOwnerKeys(readOnly, log); err != nil {
		return nil, err
	}
	if err := n.openState(readOnly, log); err != nil {
		return nil, err
	}
	if !readOnly {
		if n.Signing, err = n.loadSigning(context.Background(), log); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// openOwnerKeys loads the owner's key (created on a writable first start)
// and the recipients' public keys.
func (n *Node) openOwnerKeys(readOnly bool, log *slog.Logger) error {
	cfg := n.Cfg
	ownerPath := cfg.Resolve(cfg.Appliance.OwnerKey)
	var err error
	if readOnly {
		if n.Owner, err = keys.LoadRecipient(ownerPath); err != nil {
			return fmt.Errorf("owner key: %w", err)
		}
	} else {
		kem, _ := keys.KEMByName(cfg.Appliance.OwnerKEM) // validated by config
		var created bool
		if n.Owner, created, err = keys.LoadOrGenerateRecipient(ownerPath, kem); err != nil {
			return fmt.Errorf("owner key: %w", err)
		}
		if created {
			log.Info("generated owner recipient key", "path", ownerPath, "public", ownerPath+".pub")
		}
	}
	n.Recipients = []hpke.PublicKey{n.Owner.PublicKey()}
	for _, r := range cfg.Recipients {
		pub, err := keys.LoadRecipientPublic(cfg.Resolve(r.PublicKeyFile))
		if err != nil {
			return fmt.Errorf("recipient %s: %w", r.Name, err)
		}
		n.Recipients = append(n.Recipients, pub)
	}
	return nil
}

// openState opens the storage, the store (writable: a running appliance
// holds it, and the store says so) and the ledger.
func (n *Node) openState(readOnly bool, log *slog.Logger) error {
	cfg := n.Cfg
	var err error
	if n.Storage, err = openStorage(context.Background(), cfg); err != nil {
		return err
	}
	if readOnly {
		n.Store, err = store.OpenReadOnly(StoreDir(cfg))
	} else {
		// The write-ahead log counts against the disk budget: keep it to
		// an eighth of the cap.
		n.Store, err = store.Open(StoreDir(cfg), store.WALLimit(uint64(cfg.Budget.MaxBytes)/8))
	}
	if err != nil {
		return err
	}
	if n.Ledger, n.closeLedger, err = openLedger(cfg, n.Store, log); err != nil {
		n.Store.Close()
		n.Store = nil
		return err
	}
	return nil
}

// OpenView opens the ledger and storage of an appliance read-only, without
// its keys: what a partner's tools need (on Fabric the ledger is the
// partner's own peer; on the embedded default it is the appliance's store).
func OpenView(cfg *config.Config) (*Node, error) {
	n := &Node{Cfg: cfg}
	var err error
	if n.Storage, err = openStorage(context.Background(), cfg); err != nil {
		return nil, err
	}
	// On Fabric the partner reads its own peer and needs no appliance store.
	if cfg.Ledger.Kind != config.LedgerFabric {
		if n.Store, err = store.OpenReadOnly(StoreDir(cfg)); err != nil {
			return nil, err
		}
	}
	if n.Ledger, n.closeLedger, err = openLedger(cfg, n.Store, slog.New(slog.DiscardHandler)); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Close releases the ledger connection and the store.
func (n *Node) Close() {
	if n.closeLedger != nil {
		n.closeLedger()
	}
	if n.Store != nil {
		n.Store.Close()
	}
}

// ensureRegistered makes sure the ledger knows the appliance's key and
// anchoring identity. On the embedded ledger the appliance registers itself
// (it is the only member); on Fabric a manufacturer admin must have run
// `wotchain register`, and a missing or stale registration is reported.
// Revoked keys are reported too: the appliance runs on (readings are
// stored), but the ledger will not anchor what they signed.
func (n *Node) ensureRegistered(ctx context.Context, log *slog.Logger) error {
	pub := n.Signing.Public().(ed25519.PublicKey)
	id := n.Ledger.Identity()
	a, err := n.Ledger.Appliance(ctx, n.Cfg.Appliance.ID)
	if err == nil && pub.Equal(ed25519.PublicKey(a.PublicKey)) && a.AnchorMSP == id.MSPID && a.AnchorID == id.ID {
		return n.reportRevoked(a, log)
	}
	if err != nil && !errors.Is(err, rules.ErrUnknownAppliance) {
		return err
	}
	if n.Cfg.Ledger.Kind == config.LedgerFabric {
		// Anchoring is retried by the outbox; readings are stored meanwhile.
		log.Error("appliance is not registered on the ledger with this key and identity; blocks wait in the outbox until a manufacturer admin runs `wotchain register`",
			"appliance", n.Cfg.Appliance.ID, "identity", id.String(), "key_id", format.KeyID(pub))
		return nil
	}
	return n.Ledger.RegisterAppliance(ctx, rules.Appliance{
		ID: n.Cfg.Appliance.ID, PublicKey: pub, AnchorMSP: id.MSPID, AnchorID: id.ID,
	})
}

// reportRevoked logs, as an error, a revoked current key: the ledger
// refuses the blocks it signs from the first height it had not anchored
// (the revocation cut its range there) until a rotation registers a new
// key. The blocks a revoked key stranded are re-sealed (resealAtStart).
func (n *Node) reportRevoked(a *rules.Appliance, log *slog.Logger) error {
	cur := a.Current()
	if cur.CompromisedAt == 0 {
		return nil
	}
	attrs := []any{"key_id", cur.ID, "compromised_at", rfc3339(cur.CompromisedAt), "revoked_at", rfc3339(cur.RevokedAt), "reason", cur.RevokeReason}
	if cur.Cut {
		attrs = append(attrs, "refused_from_height", cur.ToHeight)
	}
	log.Error("the appliance's signing key is revoked on the ledger: readings are still stored and sealed, but the ledger refuses to anchor blocks signed by it; replace it with `wotchain rotate-key`, and the next start re-seals those blocks under the new key",
		attrs...)
	return nil
}

// resealAtStart re-seals the blocks a key revocation stranded in the
// outbox (ResealStranded), before the pipeline starts: the revocation may
// have been recorded while the appliance was stopped or running, or by a
// revoke-key killed before its own re-seal. A ledger that cannot be read
// now leaves them to the next start (logged); an appliance the ledger
// does not know yet (Fabric, before `register`) has nothing stranded.
func (n *Node) resealAtStart(ctx context.Context, log *slog.Logger) error {
	a, err := n.Ledger.Appliance(ctx, n.Cfg.Appliance.ID)
	if errors.Is(err, rules.ErrUnknownAppliance) {
		return nil
	}
	if err != nil {
		log.Error("could not read the appliance's key history from the ledger: blocks a key revocation stranded in the outbox, if any, are re-sealed at the next start", "err", err)
		return nil
	}
	_, err = n.ResealStranded(a, log)
	return err
}

func rfc3339(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
