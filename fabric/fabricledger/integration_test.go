package fabricledger_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/fabric/fabricledger"
	"github.com/wotchain/wotchain/fabric/netdesc"
	"github.com/wotchain/wotchain/fabric/network"
	"github.com/wotchain/wotchain/internal/testserver/fabric"
)

// TestFabricNetwork brings a two-organisation network up from nothing and
// runs the appliance's ledger verbs against the real chaincode.
//
// Fabric's binaries come from the cache (network.EnsureBinaries) and are
// built there on first use (1-2 minutes). If they cannot be built the test
// is skipped, unless CI=true, where that is a failure.
func TestFabricNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Fabric network; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	net := startNetwork(ctx, t)

	admin := connect(t, net, network.ManufacturerMSP, "Admin")
	anchor := connect(t, net, network.ManufacturerMSP, "User1") // the appliance's anchoring identity
	stranger := connect(t, net, network.ManufacturerMSP, "User2")
	partner := connect(t, net, network.PartnerMSP, "User1") // reads through the partner's own peer

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	app := rules.Appliance{ID: "appliance-it-1", PublicKey: pub, AnchorMSP: anchor.Identity().MSPID, AnchorID: anchor.Identity().ID}
	if err := partner.RegisterAppliance(ctx, app); !errors.Is(err, rules.ErrForbidden) {
		t.Fatalf("partner registering an appliance: %v, want ErrForbidden", err)
	}
	if err := admin.RegisterAppliance(ctx, app); err != nil {
		t.Fatalf("register appliance: %v", err)
	}

	sub := submission(t, priv, app.ID)
	cred, recorded, err := anchor.Anchor(ctx, sub)
	if err != nil || !recorded {
		t.Fatalf("anchor: recorded=%v err=%v", recorded, err)
	}
	if cred.BlockID != format.BlockID(sub.Header) || cred.SignerID != anchor.Identity().ID {
		t.Fatalf("anchored credential %+v", cred)
	}

	// The partner's peer commits the block independently; give it a moment.
	var got *format.Credential
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err = partner.Credential(ctx, cred.BlockID)
		if err == nil || !errors.Is(err, rules.ErrNotFound) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("partner reads credential: %v", err)
	}
	if got.ObjectHash != sub.ObjectHash || got.Location != sub.Location || got.Height != 0 {
		t.Fatalf("partner read %+v", got)
	}
	if page, err := partner.ListByAppliance(ctx, app.ID, 10, ""); err != nil || len(page.Credentials) != 1 || page.Bookmark != "" {
		t.Fatalf("partner lists by appliance: %+v, %v", page, err)
	}
	if page, err := partner.ListByDevice(ctx, "dev-a", 0, 1<<62, 10, ""); err != nil || len(page.Credentials) != 1 {
		t.Fatalf("partner lists by device: %+v, %v", page, err)
	}
	if a, err := partner.Appliance(ctx, app.ID); err != nil || a.OwnerMSP != network.ManufacturerMSP {
		t.Fatalf("partner reads appliance: %+v, %v", a, err)
	}
	if h, err := partner.ApplianceHistory(ctx, app.ID); err != nil || len(h) != 1 || h[0].TxID == "" {
		t.Fatalf("appliance history: %+v, %v", h, err)
	}
	if _, err := partner.Credential(ctx, "0000"); !errors.Is(err, rules.ErrNotFound) {
		t.Fatalf("missing credential: %v, want ErrNotFound", err)
	}

	// The contract on the network rejects what the rules reject.
	if _, _, err := stranger.Anchor(ctx, sub); !errors.Is(err, rules.ErrForbidden) {
		t.Errorf("unregistered identity anchoring: %v, want ErrForbidden", err)
	}
	badSig := submission(t, priv, app.ID)
	badSig.HeaderSig[0] ^= 0xff
	if _, _, err := anchor.Anchor(ctx, badSig); !errors.Is(err, rules.ErrBadSignature) {
		t.Errorf("bad signature: %v, want ErrBadSignature", err)
	}
	conflicting := sub
	conflicting.Location = "s3://elsewhere/" + cred.BlockID
	if _, _, err := anchor.Anchor(ctx, conflicting); !errors.Is(err, rules.ErrConflict) {
		t.Errorf("conflicting credential: %v, want ErrConflict", err)
	}
	again, recorded, err := anchor.Anchor(ctx, sub)
	if err != nil || recorded || again.BlockID != cred.BlockID {
		t.Errorf("re-submission: recorded=%v err=%v, want the recorded credential with recorded=false", recorded, err)
	}

	// Two concurrent anchors of the next block: both are endorsed before
	// either commits, so one is recorded and the other is either invalidated
	// at commit (an error, never a silent success) or, if the two were
	// serialised, finds the credential already recorded.
	prevHash, _ := hex.DecodeString(cred.BlockID)
	next := submissionAt(t, priv, app.ID, 1, prevHash)
	type outcome struct {
		recorded bool
		err      error
	}
	results := make(chan outcome, 2)
	for range 2 {
		go func() {
			_, rec, err := anchor.Anchor(ctx, next)
			results <- outcome{rec, err}
		}()
	}
	a, b := <-results, <-results
	t.Logf("concurrent anchors: (recorded=%v, err=%v) (recorded=%v, err=%v)", a.recorded, a.err, b.recorded, b.err)
	if a.recorded == b.recorded || (a.err != nil && b.err != nil) {
		t.Errorf("concurrent anchors: %+v and %+v, want exactly one recorded", a, b)
	}
	for _, o := range []outcome{a, b} {
		if o.err != nil && !errors.Is(o.err, fabricledger.ErrInvalidated) {
			t.Errorf("concurrent anchor failed with %v, want ErrInvalidated", o.err)
		}
	}
	if c, err := partner.CredentialAt(ctx, app.ID, 1); err != nil && !errors.Is(err, rules.ErrNotFound) {
		t.Errorf("credential at height 1: %v", err)
	} else if err == nil && c.PrevBlockID != cred.BlockID {
		t.Errorf("block 1 links to %s, want %s", c.PrevBlockID, cred.BlockID)
	}

	last := anchorBatches(ctx, t, priv, app.ID, next, anchor, stranger, partner)

	// The appliance was registered without OwnerMSP, so its owner is the
	// registering manufacturer (checked above through the partner's read).
	licensing(ctx, t, net, app.ID, admin, stranger, partner)

	followAnchored(ctx, t, partner, cred.BlockID, last)
	// After followAnchored, which reads every anchoring event from the start.
	keyHistory(ctx, t, admin, anchor, stranger, partner)
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

// startNetwork brings a two-organisation network up in a temporary
// directory (see fabric.StartNetwork), logging at info level.
func startNetwork(ctx context.Context, tb testing.TB) *netdesc.Network {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	// EnsureBinaries and Down log through the default logger.
	prev := slog.Default()
	slog.SetDefault(log)
	tb.Cleanup(func() { slog.SetDefault(prev) })
	return fabric.StartNetwork(ctx, tb, tb.TempDir(), log)
}

// anchorBatches anchors blocks 2.. of the appliance in batches on top of
// block 1 (next, already recorded) and returns the last height anchored:
// a batch mixing block 1 again with new blocks, refused batches that record
// nothing, and a batch as large as the contract allows in bytes, which must
// fit through gRPC's and the orderer's message limits.
func anchorBatches(ctx context.Context, t *testing.T, priv ed25519.PrivateKey, applianceID string, next format.Submission,
	anchor, stranger, partner *fabricledger.Ledger) uint64 {
	t.Helper()
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	chain := func(from uint64, prev format.Submission, n int, mk func(height uint64, prev []byte) format.Submission) []format.Submission {
		var out []format.Submission
		for i := range n {
			p, _ := hex.DecodeString(format.BlockID(prev.Header))
			prev = mk(from+uint64(i), p)
			out = append(out, prev)
		}
		return out
	}
	plain := func(height uint64, prev []byte) format.Submission {
		return submissionAt(t, priv, applianceID, height, prev)
	}

	batch := append([]format.Submission{next}, chain(2, next, 3, plain)...)
	start := time.Now()
	out, err := anchor.AnchorBatch(ctx, batch)
	if err != nil {
		t.Fatalf("anchor batch of blocks 1..4: %v", err)
	}
	t.Logf("batch of 4 blocks committed in %s", time.Since(start).Round(time.Millisecond))
	for i, a := range out {
		if a.Recorded != (i > 0) || a.Credential.BlockID != format.BlockID(batch[i].Header) || a.Credential.Height != uint64(i+1) {
			t.Fatalf("batch result %d: recorded=%v %+v", i, a.Recorded, a.Credential)
		}
	}
	if c := eventually(t, func() (*format.Credential, error) { return partner.CredentialAt(ctx, applianceID, 4) },
		func(*format.Credential) bool { return true }); c.PrevBlockID != format.BlockID(batch[2].Header) {
		t.Fatalf("partner reads block 4 linked to %s", c.PrevBlockID)
	}

	good := chain(5, batch[3], 3, plain)
	badSig := slices.Clone(good)
	badSig[1].HeaderSig = format.SignHeader(otherPriv, badSig[1].Header)
	for _, tc := range []struct {
		name string
		l    *fabricledger.Ledger
		subs []format.Submission
		want error
		msg  string
	}{
		{"bad signature in the middle", anchor, badSig, rules.ErrBadSignature, "block 6"},
		{"unregistered identity", stranger, good, rules.ErrForbidden, "block 5"},
		{"not linked to the ledger", anchor, good[1:], rules.ErrBrokenChain, "block 6"},
		{"a block twice", anchor, []format.Submission{good[0], good[0]}, rules.ErrInvalid, "batch entry 1"},
	} {
		if _, err := tc.l.AnchorBatch(ctx, tc.subs); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v naming %q", tc.name, err, tc.want, tc.msg)
		}
	}
	// Refused batches are refused at endorsement: nothing reached the ledger.
	if _, err := anchor.CredentialAt(ctx, applianceID, 5); !errors.Is(err, rules.ErrNotFound) {
		t.Fatalf("block 5 after refused batches: %v, want ErrNotFound", err)
	}
	if out, err := anchor.AnchorBatch(ctx, good); err != nil || len(out) != 3 || !out[2].Recorded {
		t.Fatalf("batch of blocks 5..7: %+v, %v", out, err)
	}

	// As large as the contract takes: locations of 1000 bytes and headers
	// naming long device names, which the credential repeats and indexes.
	var devices []string
	for d := range 10 {
		devices = append(devices, fmt.Sprintf("device-%02d-%s", d, strings.Repeat("x", 190)))
	}
	large := func(height uint64, prev []byte) format.Submission {
		s := submissionWith(t, priv, applianceID, height, prev, devices)
		s.Location = "s3://blocks/" + strings.Repeat("p", 1000-len("s3://blocks/")-64) + format.BlockID(s.Header)
		return s
	}
	var big []format.Submission
	size := 0
	for _, s := range chain(8, good[2], format.MaxBatchCount, large) {
		if size+format.SubmissionSize(s) > format.MaxBatchBytes {
			break
		}
		big, size = append(big, s), size+format.SubmissionSize(s)
	}
	start = time.Now()
	out, err = anchor.AnchorBatch(ctx, big)
	if err != nil || len(out) != len(big) || !out[len(out)-1].Recorded {
		t.Fatalf("batch of %d blocks, %d bytes: %d results, %v", len(big), size, len(out), err)
	}
	t.Logf("batch of %d blocks, %d bytes of submissions, committed in %s", len(big), size, time.Since(start).Round(time.Millisecond))
	return out[len(out)-1].Credential.Height
}

// licensing runs the grant verbs: only an admin of the owner grants or
// revokes, the partner reads the grant through its own peer, and the times
// are the transactions' timestamps.
func licensing(ctx context.Context, t *testing.T, net *netdesc.Network, applianceID string, owner, ownerClient, partner *fabricledger.Ledger) {
	t.Helper()
	partnerAdmin := connect(t, net, network.PartnerMSP, "Admin")
	kem := hpke.DHKEM(ecdh.X25519())
	partnerKey, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	g := rules.Grant{
		ID: "grant-it-1", ApplianceID: applianceID, PartnerMSP: network.PartnerMSP,
		PartnerKEM: kem.ID(), PartnerKey: partnerKey.PublicKey().Bytes(),
		Devices: []string{"dev-a"}, From: 0, To: 1 << 62,
	}

	if _, _, err := partnerAdmin.RecordGrant(ctx, g); !errors.Is(err, rules.ErrForbidden) {
		t.Errorf("partner admin granting itself: %v, want ErrForbidden", err)
	}
	if _, _, err := ownerClient.RecordGrant(ctx, g); !errors.Is(err, rules.ErrForbidden) {
		t.Errorf("manufacturer client granting: %v, want ErrForbidden", err)
	}

	before := time.Now()
	rec, recorded, err := owner.RecordGrant(ctx, g)
	if err != nil || !recorded {
		t.Fatalf("owner records grant: recorded=%v err=%v", recorded, err)
	}
	plausibleTxTime(t, "GrantedAt", rec.GrantedAt, before, time.Now())
	if rec.OwnerMSP != network.ManufacturerMSP || rec.GrantedBy != owner.Identity().MSPID+"/"+owner.Identity().ID || rec.RevokedAt != 0 {
		t.Fatalf("recorded grant %+v", rec)
	}
	again, recorded, err := owner.RecordGrant(ctx, g)
	if err != nil || recorded || again.GrantedAt != rec.GrantedAt {
		t.Errorf("identical grant again: %+v recorded=%v err=%v, want the first grant with recorded=false", again, recorded, err)
	}

	if _, err := partnerAdmin.RevokeGrant(ctx, applianceID, g.ID); !errors.Is(err, rules.ErrForbidden) {
		t.Errorf("partner admin revoking: %v, want ErrForbidden", err)
	}
	if _, err := ownerClient.RevokeGrant(ctx, applianceID, g.ID); !errors.Is(err, rules.ErrForbidden) {
		t.Errorf("manufacturer client revoking: %v, want ErrForbidden", err)
	}

	page := eventually(t, func() (*rules.GrantPage, error) { return partner.ListGrants(ctx, applianceID, 10, "") },
		func(p *rules.GrantPage) bool { return len(p.Grants) > 0 })
	if len(page.Grants) != 1 || page.Bookmark != "" {
		t.Fatalf("partner lists grants: %+v", page)
	}
	if pg := page.Grants[0]; pg.ID != g.ID || pg.GrantedAt != rec.GrantedAt || string(pg.PartnerKey) != string(g.PartnerKey) {
		t.Fatalf("partner reads grant %+v, want %+v", pg, rec)
	}
	if _, err := partner.GetGrant(ctx, applianceID, "no-such-grant"); !errors.Is(err, rules.ErrNotFound) {
		t.Errorf("missing grant: %v, want ErrNotFound", err)
	}

	before = time.Now()
	rev, err := owner.RevokeGrant(ctx, applianceID, g.ID)
	if err != nil {
		t.Fatalf("owner revokes grant: %v", err)
	}
	plausibleTxTime(t, "RevokedAt", rev.RevokedAt, before, time.Now())
	if rev.RevokedAt <= rec.GrantedAt {
		t.Errorf("RevokedAt %d not after GrantedAt %d", rev.RevokedAt, rec.GrantedAt)
	}
	seen := eventually(t, func() (*rules.Grant, error) { return partner.GetGrant(ctx, applianceID, g.ID) },
		func(pg *rules.Grant) bool { return pg.RevokedAt != 0 })
	if seen.RevokedAt != rev.RevokedAt {
		t.Errorf("partner reads RevokedAt %d, want %d", seen.RevokedAt, rev.RevokedAt)
	}
	t.Logf("grant %s: granted at %s, revoked at %s", g.ID,
		time.Unix(0, rec.GrantedAt).UTC().Format(time.RFC3339Nano), time.Unix(0, rev.RevokedAt).UTC().Format(time.RFC3339Nano))
}

// plausibleTxTime checks that a time the contract took from the transaction
// timestamp lies in the window the client created the transaction in (with a
// second of slack for wall-clock steps).
func plausibleTxTime(t *testing.T, name string, ns int64, before, after time.Time) {
	t.Helper()
	if ns < before.Add(-time.Second).UnixNano() || ns > after.Add(time.Second).UnixNano() {
		t.Errorf("%s = %d (%s), want a transaction timestamp within [%s, %s]", name, ns,
			time.Unix(0, ns).UTC().Format(time.RFC3339Nano), before.UTC().Format(time.RFC3339Nano), after.UTC().Format(time.RFC3339Nano))
	}
}

// eventually reads until ok accepts the result or 10 s pass: a reader's
// peer commits each block independently of the submitter's.
func eventually[T any](t *testing.T, read func() (T, error), ok func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := read()
		if err == nil && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("no acceptable read within 10s: last %+v, err %v", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// followAnchored reads the anchoring events from the ledger's start,
// stops after the first, and checks that a follower restarted from the same
// checkpoint file resumes with the next one (block 1); then that blocks
// anchored in batches come one by one, in order, up to last, and that a
// follower stopped in the middle of a batch resumes after the last block it
// accepted.
func followAnchored(ctx context.Context, t *testing.T, l *fabricledger.Ledger, firstBlockID string, last uint64) {
	t.Helper()
	checkpoint := filepath.Join(t.TempDir(), "events.checkpoint")
	errStop := errors.New("stop")
	next := func() fabricledger.AnchoredEvent {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		var got fabricledger.AnchoredEvent
		err := l.FollowAnchored(ctx, checkpoint, func(_ context.Context, ev fabricledger.AnchoredEvent) error {
			got = ev
			return errStop
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("follow anchored events: %v (no event before the timeout?)", err)
		}
		return got
	}
	first := next()
	if first.Credential.BlockID != firstBlockID || first.Credential.Height != 0 {
		t.Fatalf("first event %+v", first.Credential)
	}
	// handle refused the first event, so it was not checkpointed: a restart
	// sees it again. Accept it this time, then stop on the next.
	var seen []uint64
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := l.FollowAnchored(ctx2, checkpoint, func(_ context.Context, ev fabricledger.AnchoredEvent) error {
		seen = append(seen, ev.Credential.Height)
		if len(seen) == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || seen[0] != 0 || seen[1] != 1 {
		t.Fatalf("resumed follower saw heights %v, err %v", seen, err)
	}
	if ev := next(); ev.Credential.Height != 1 {
		t.Fatalf("after checkpointing height 0, follower resumed at %+v", ev.Credential)
	}

	// Blocks 2..4 came in one batch event: stop at block 3, in its middle.
	follow := func(stopAt uint64) []uint64 {
		t.Helper()
		var heights []uint64
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := l.FollowAnchored(ctx, checkpoint, func(_ context.Context, ev fabricledger.AnchoredEvent) error {
			if ev.Credential.Height == stopAt {
				return errStop
			}
			heights = append(heights, ev.Credential.Height)
			return nil
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("follow until block %d: %v after heights %v", stopAt, err, heights)
		}
		return heights
	}
	if got := follow(3); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("follower saw heights %v, want 1 and 2 before stopping at 3", got)
	}
	got := follow(last)
	got = append(got, last) // refused, so not handled: seen again by the next run
	for i, h := range got {
		if h != uint64(3+i) {
			t.Fatalf("follower restarted in a batch saw heights %v, want 3..%d once each, in order", got, last)
		}
	}
	if ev := next(); ev.Credential.Height != last {
		t.Fatalf("follower resumed at %d, want %d", ev.Credential.Height, last)
	}
}

func connect(t testing.TB, net *netdesc.Network, mspID, user string) *fabricledger.Ledger {
	t.Helper()
	org, err := net.Org(mspID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := org.User(user)
	if err != nil {
		t.Fatal(err)
	}
	l, err := fabricledger.Connect(fabricledger.Config{
		PeerEndpoint: org.Peer.Address, TLSCAFile: org.Peer.TLSCAFile, ServerNameOverride: org.Peer.ServerName,
		MSPID: mspID, MSPDir: u.MSPDir, Channel: net.Channel, Chaincode: net.Chaincode,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// submission is block 0 of an appliance, signed with its key.
func submission(t *testing.T, priv ed25519.PrivateKey, applianceID string) format.Submission {
	t.Helper()
	return submissionAt(t, priv, applianceID, 0, nil)
}

// submissionAt is a signed block at height, linked to prev.
func submissionAt(t testing.TB, priv ed25519.PrivateKey, applianceID string, height uint64, prev []byte) format.Submission {
	t.Helper()
	return submissionWith(t, priv, applianceID, height, prev, []string{"dev-a", "dev-b"})
}

// submissionWith is a signed block at height of devices, linked to prev.
func submissionWith(t testing.TB, priv ed25519.PrivateKey, applianceID string, height uint64, prev []byte, devices []string) format.Submission {
	t.Helper()
	root := sha256.Sum256([]byte("readings"))
	first := height*10 + 1
	h := &format.Header{
		Version: format.HeaderV1, ApplianceID: applianceID, Height: height, PrevHash: prev,
		FirstSeq: first, LastSeq: first + 9, Count: 10,
		FirstTime: int64(height)*10_000 + 1_000, LastTime: int64(height)*10_000 + 2_000,
		Devices: devices, MerkleRoot: root[:], SealedAt: int64(height)*10_000 + 3_000,
	}
	hb, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	obj := sha256.Sum256(append([]byte("encrypted object "), hb...))
	return format.Submission{
		Header: hb, HeaderSig: format.SignHeader(priv, hb),
		ObjectHash: hex.EncodeToString(obj[:]), Location: "s3://blocks/" + format.BlockID(hb),
	}
}
