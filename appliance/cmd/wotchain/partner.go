package main

import (
	"bytes"
	"context"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Files fetch writes per block, in the output directory.
func blockFile(dir, id string) string      { return filepath.Join(dir, id+".block") }
func deliveryFile(dir, id string) string   { return filepath.Join(dir, id+".key") }
func credentialFile(dir, id string) string { return filepath.Join(dir, id+".credential.json") }

// deliveryFileV2 is where fetch writes a v2 block's delivery of one grant:
// one per grant, named as in storage (envelope.GrantName: the grant id or
// a digest of it, never a path).
func deliveryFileV2(dir, id, grantID string) string {
	return filepath.Join(dir, id+"."+envelope.GrantName(grantID)+".key")
}

// recipientKeyID reads the key id from a partner's public or private key file.
func recipientKeyID(path string) (string, error) {
	if pub, err := keys.LoadRecipientPublic(path); err == nil {
		return keys.KeyID(pub), nil
	}
	priv, err := keys.LoadRecipient(path)
	if err != nil {
		return "", err
	}
	return keys.KeyID(priv.PublicKey()), nil
}

func cmdFetch(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("fetch")
	path := fs.String("config", "", "configuration naming the ledger and storage")
	blockID := fs.String("block", "", "block id")
	device := fs.String("device", "", "device id (with --from and --to)")
	from := fs.String("from", "", "start of the time range (RFC 3339)")
	to := fs.String("to", "", "end of the time range (RFC 3339)")
	key := fs.String("key", "", "your recipient key file (public or private), to fetch key deliveries for it")
	out := fs.String("out", "", "directory to write blocks, credentials and key deliveries to")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" || (*blockID == "") == (*device == "") {
		return fmt.Errorf("%w: give --out and either --block or --device with --from and --to", errUsage)
	}
	n, err := openView(*path)
	if err != nil {
		return err
	}
	defer n.Close()
	var creds []*format.Credential
	if *blockID != "" {
		c, err := n.Ledger.Credential(ctx, *blockID)
		if err != nil {
			return err
		}
		creds = append(creds, c)
	} else {
		f, err := parseTime("from", *from)
		if err != nil {
			return err
		}
		t, err := parseTime("to", *to)
		if err != nil {
			return err
		}
		for bookmark := ""; ; {
			page, err := n.Ledger.ListByDevice(ctx, *device, f, t, 100, bookmark)
			if err != nil {
				return err
			}
			creds = append(creds, page.Credentials...)
			if bookmark = page.Bookmark; bookmark == "" {
				break
			}
		}
	}
	kid := ""
	if *key != "" {
		if kid, err = recipientKeyID(*key); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*out, 0o750); err != nil {
		return err
	}
	bad := 0
	grants := partnerGrants{ledger: n.Ledger, kid: kid}
	for _, c := range creds {
		if err := fetchOne(ctx, n.Storage, &grants, c, kid, *out, stdout); err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", c.BlockID, err)
			bad++
		}
	}
	fmt.Fprintf(stdout, "%d blocks fetched to %s, %d failed\n", len(creds)-bad, *out, bad)
	if bad > 0 {
		return errFailed
	}
	return nil
}

// partnerGrants lists, per appliance, the grants made to one partner key
// (its key id), which name a v2 block's deliveries; it asks the ledger once
// per appliance.
type partnerGrants struct {
	ledger interface {
		ListGrants(ctx context.Context, applianceID string, limit int, bookmark string) (*rules.GrantPage, error)
	}
	kid   string
	byApp map[string][]string
}

func (p *partnerGrants) ids(ctx context.Context, applianceID string) ([]string, error) {
	if ids, ok := p.byApp[applianceID]; ok {
		return ids, nil
	}
	var ids []string
	for bookmark := ""; ; {
		page, err := p.ledger.ListGrants(ctx, applianceID, 100, bookmark)
		if err != nil {
			return nil, fmt.Errorf("grants of appliance %s: %w", applianceID, err)
		}
		for _, g := range page.Grants {
			kem, err := hpke.NewKEM(g.PartnerKEM)
			if err != nil {
				continue // not a key of ours, whatever it is
			}
			pub, err := kem.NewPublicKey(g.PartnerKey)
			if err == nil && keys.KeyID(pub) == p.kid {
				ids = append(ids, g.ID)
			}
		}
		if bookmark = page.Bookmark; bookmark == "" {
			break
		}
	}
	if p.byApp == nil {
		p.byApp = map[string][]string{}
	}
	p.byApp[applianceID] = ids
	return ids, nil
}

// fetchDeliveries fetches the key deliveries of block c for key id kid: the
// one v1 delivery of a v1 block, or a v2 block's delivery of each of the
// partner's grants that has one. It returns how many it wrote.
func fetchDeliveries(ctx context.Context, st daemon.Storage, grants *partnerGrants, c *format.Credential, kid, out string) (int, error) {
	h, err := format.ParseHeader(c.Header)
	if err != nil {
		return 0, err
	}
	if h.Version != format.HeaderV2 {
		d, err := st.Get(ctx, st.Location(envelope.DeliveryName(kid, c.BlockID)))
		if errors.Is(err, objstore.ErrNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		return 1, os.WriteFile(deliveryFile(out, c.BlockID), d, 0o640)
	}
	ids, err := grants.ids(ctx, c.ApplianceID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, g := range ids {
		d, err := st.Get(ctx, st.Location(envelope.DeliveryNameV2(kid, c.BlockID, g)))
		if errors.Is(err, objstore.ErrNotFound) {
			continue // the grant has no poll in this block
		}
		if err != nil {
			return n, err
		}
		if err := os.WriteFile(deliveryFileV2(out, c.BlockID, g), d, 0o640); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func fetchOne(ctx context.Context, st daemon.Storage, grants *partnerGrants, c *format.Credential, kid, out string, stdout io.Writer) error {
	if c.Location == outbox.DroppedLocation {
		return fmt.Errorf("the appliance dropped this block's readings before upload (disk budget); the credential proves %d readings existed, their data is gone", c.Count)
	}
	obj, err := st.Get(ctx, c.Location)
	if err != nil {
		return err
	}
	// Never hand on an object that is not the anchored one.
	if got := envelope.Hash(obj); got != c.ObjectHash {
		return fmt.Errorf("object at %s hashes to %s, the ledger anchored %s: corrupted or truncated in storage", c.Location, got, c.ObjectHash)
	}
	credJSON, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(blockFile(out, c.BlockID), obj, 0o640); err != nil {
		return err
	}
	if err := os.WriteFile(credentialFile(out, c.BlockID), credJSON, 0o640); err != nil {
		return err
	}
	note := ""
	if kid != "" {
		n, err := fetchDeliveries(ctx, st, grants, c, kid, out)
		switch {
		case err != nil:
			return err
		case n == 0:
			note = "; no key delivered for your key (listed recipients only)"
		case n == 1:
			note = "; key delivery fetched"
		default:
			note = fmt.Sprintf("; %d key deliveries fetched (one per grant)", n)
		}
	}
	fmt.Fprintf(stdout, "ok   block %d %s (%d readings, %s .. %s)%s\n", c.Height, c.BlockID, c.Count,
		time.Unix(0, c.FirstTime).UTC().Format(time.RFC3339), time.Unix(0, c.LastTime).UTC().Format(time.RFC3339), note)
	return nil
}

// openFetched reads a fetched object and the deliveries fetched beside it:
// <id>.key (a v1 block's) and <id>.<grant>.key (a v2 block's, one per
// grant).
func openFetched(in string) (obj []byte, ds []*envelope.Delivery, err error) {
	if obj, err = os.ReadFile(in); err != nil {
		return nil, nil, err
	}
	base := filepath.Join(filepath.Dir(in), trimExt(filepath.Base(in)))
	more, err := filepath.Glob(globEscape(base) + ".*.key")
	if err != nil {
		return nil, nil, err
	}
	for _, dpath := range append([]string{base + ".key"}, more...) {
		raw, err := os.ReadFile(dpath)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		d, err := parseDelivery(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", dpath, err)
		}
		ds = append(ds, d)
	}
	return obj, ds, nil
}

// parseDelivery decodes a fetched delivery of either format.
func parseDelivery(raw []byte) (*envelope.Delivery, error) {
	d, err := envelope.ParseDelivery(raw)
	if err == nil {
		return d, nil
	}
	if d, err2 := envelope.ParseDeliveryV2(raw); err2 == nil {
		return d, nil
	}
	return nil, err
}

// globEscape quotes the glob metacharacters of a path.
func globEscape(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func trimExt(name string) string { return name[:len(name)-len(filepath.Ext(name))] }

// decryptReadings opens an object with the key, as a listed recipient or
// via deliveries, and returns the readings it opens: all of a v1 block; of
// a v2 block, all for a recipient and the granted polls' for a partner.
func decryptReadings(obj []byte, ds []*envelope.Delivery, priv hpke.PrivateKey) ([][]byte, error) {
	f, err := envelope.FormatOf(obj)
	if err != nil {
		return nil, err
	}
	if f == envelope.FormatV2 {
		return decryptV2(obj, ds, priv)
	}
	o, err := envelope.Parse(obj)
	if err != nil {
		return nil, err
	}
	plain, err := o.Open(priv)
	if errors.Is(err, envelope.ErrNotRecipient) && len(ds) == 1 {
		plain, err = o.OpenDelivered(ds[0], priv)
	}
	if err != nil {
		return nil, err
	}
	body, err := block.ParseBody(plain)
	if err != nil {
		return nil, err
	}
	return body.Readings, nil
}

// decryptV2 opens the polls of a v2 object the key set covers, in block
// order; the others stay sealed. Each opened poll's readings are checked
// against its record (seq range, device, salted leaves to the poll root),
// so what is printed is what the poll signature covers; verify checks the
// signatures and the anchoring.
func decryptV2(obj []byte, ds []*envelope.Delivery, priv hpke.PrivateKey) ([][]byte, error) {
	o, err := envelope.ParseV2(obj)
	if err != nil {
		return nil, err
	}
	nodes, _, err := verify.KeySetV2(o, priv, ds)
	if err != nil {
		return nil, err
	}
	c, err := envelope.NewCodec()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for k, ps := range o.Polls {
		rec, err := reading.DecodePoll(ps.Record)
		if err != nil {
			return nil, fmt.Errorf("poll %d: %w", k, err)
		}
		key, ok := keytree.KeyOf(nodes, rec.DeviceID, rec.PollIndex)
		if !ok {
			continue
		}
		raw, err := o.OpenPoll(c, k, keytree.SectionKey(key))
		if err != nil {
			return nil, err
		}
		leaves, err := rec.Leaves(raw, singleKey(key))
		if err != nil {
			return nil, fmt.Errorf("poll %d: %w", k, err)
		}
		root, err := reading.PollRoot(leaves)
		if err != nil || !bytes.Equal(root, rec.PollRoot) {
			return nil, fmt.Errorf("poll %d..%d of %s: its readings do not give its poll root", rec.FirstSeq, rec.LastSeq, rec.DeviceID)
		}
		for j, b := range raw {
			r, err := reading.Decode(b)
			if err != nil || r.Seq != rec.FirstSeq+uint64(j) || r.DeviceID != rec.DeviceID {
				return nil, fmt.Errorf("poll %d..%d of %s: reading %d out of place", rec.FirstSeq, rec.LastSeq, rec.DeviceID, j)
			}
		}
		out = append(out, raw...)
	}
	return out, nil
}

// singleKey is the one poll key at hand, as reading.PollKeys.
type singleKey [32]byte

func (k singleKey) PollKey(string, uint64) [32]byte { return k }

func cmdDecrypt(args []string, stdout io.Writer) error {
	fs := newFlags("decrypt")
	keyPath := fs.String("key", "", "your recipient private key")
	in := fs.String("in", "", "a fetched .block file (its .key delivery beside it is used when present)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *in == "" {
		return fmt.Errorf("%w: --key and --in are required", errUsage)
	}
	priv, err := keys.LoadRecipient(*keyPath)
	if err != nil {
		return err
	}
	obj, ds, err := openFetched(*in)
	if err != nil {
		return err
	}
	readings, err := decryptReadings(obj, ds, priv)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	enc := json.NewEncoder(stdout)
	for _, raw := range readings {
		r, err := readingJSON(raw)
		if err != nil {
			return err
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

func cmdVerifyFetched(ctx context.Context, cfgPath, dir, blockID, keyPath string, seq uint64, stdout io.Writer) error {
	priv, err := keys.LoadRecipient(keyPath)
	if err != nil {
		return err
	}
	obj, ds, err := openFetched(blockFile(dir, blockID))
	if err != nil {
		return err
	}
	n, err := openView(cfgPath)
	if err != nil {
		return err
	}
	defer n.Close()
	if len(ds) > 0 && isRecipient(obj, priv) {
		// A listed recipient does not need the deliveries; prefer the object's own entry.
		ds = nil
	}
	v := &verify.Verifier{Ledger: n.Ledger, Key: priv}
	return printReport(v.Fetched(ctx, blockID, obj, ds, seq), stdout)
}

// isRecipient says whether priv opens the object's own recipient entry.
func isRecipient(obj []byte, priv hpke.PrivateKey) bool {
	if o, err := envelope.ParseV2(obj); err == nil {
		_, err := o.KeySet(priv)
		return err == nil
	}
	if o, err := envelope.Parse(obj); err == nil {
		_, err := o.DataKey(priv)
		return err == nil
	}
	return false
}

func printReport(rep *verify.Report, stdout io.Writer) error {
	for _, c := range rep.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(stdout, "%s %-17s %s\n", mark, c.Name, c.Detail)
	}
	if !rep.OK() {
		fmt.Fprintf(stdout, "reading %d: NOT VERIFIED\n", rep.Seq)
		return errFailed
	}
	fmt.Fprintf(stdout, "reading %d: verified\n", rep.Seq)
	return nil
}

// readingJSON is the JSON form of a reading printed by decrypt.
func readingJSON(raw []byte) (map[string]any, error) {
	r, err := reading.Decode(raw)
	if err != nil {
		return nil, err
	}
	m := map[string]any{
		"seq": r.Seq, "appliance": r.ApplianceID, "device": r.DeviceID, "point": r.Point,
		"value": r.Value(), "quality": r.Quality.String(), "time": r.Time().Format(time.RFC3339Nano),
	}
	if r.Unit != "" {
		m["unit"] = r.Unit
	}
	if r.Reason != "" {
		m["reason"] = r.Reason
	}
	if r.SourceTime != 0 {
		m["source_time"] = time.Unix(0, r.SourceTime).UTC().Format(time.RFC3339Nano)
	}
	return m, nil
}
