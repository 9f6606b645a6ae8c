package main

import (
	"context"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/chaincode/format"
)

// Files fetch writes per block, in the output directory.
func blockFile(dir, id string) string      { return filepath.Join(dir, id+".block") }
func deliveryFile(dir, id string) string   { return filepath.Join(dir, id+".key") }
func credentialFile(dir, id string) string { return filepath.Join(dir, id+".credential.json") }

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
	for _, c := range creds {
		if err := fetchOne(ctx, n.Storage, c, kid, *out, stdout); err != nil {
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

func fetchOne(ctx context.Context, st daemon.Storage, c *format.Credential, kid, out string, stdout io.Writer) error {
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
		d, err := st.Get(ctx, st.Location(envelope.DeliveryName(kid, c.BlockID)))
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			note = "; no key delivered for your key (listed recipients only)"
		case err != nil:
			return err
		default:
			if err := os.WriteFile(deliveryFile(out, c.BlockID), d, 0o640); err != nil {
				return err
			}
			note = "; key delivery fetched"
		}
	}
	fmt.Fprintf(stdout, "ok   block %d %s (%d readings, %s .. %s)%s\n", c.Height, c.BlockID, c.Count,
		time.Unix(0, c.FirstTime).UTC().Format(time.RFC3339), time.Unix(0, c.LastTime).UTC().Format(time.RFC3339), note)
	return nil
}

// openFetched reads a fetched object and its delivery, if there is one.
func openFetched(in string) (obj []byte, d *envelope.Delivery, err error) {
	if obj, err = os.ReadFile(in); err != nil {
		return nil, nil, err
	}
	dpath := filepath.Join(filepath.Dir(in), trimExt(filepath.Base(in))+".key")
	if raw, err := os.ReadFile(dpath); err == nil {
		if d, err = envelope.ParseDelivery(raw); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", dpath, err)
		}
	}
	return obj, d, nil
}

func trimExt(name string) string { return name[:len(name)-len(filepath.Ext(name))] }

// decryptBody opens an object with the key, as a listed recipient or via a delivery.
func decryptBody(obj []byte, d *envelope.Delivery, priv hpke.PrivateKey) (*envelope.Object, []byte, error) {
	o, err := envelope.Parse(obj)
	if err != nil {
		return nil, nil, err
	}
	plain, err := o.Open(priv)
	if errors.Is(err, envelope.ErrNotRecipient) && d != nil {
		plain, err = o.OpenDelivered(d, priv)
	}
	return o, plain, err
}

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
	obj, d, err := openFetched(*in)
	if err != nil {
		return err
	}
	_, plain, err := decryptBody(obj, d, priv)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	body, err := block.ParseBody(plain)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, raw := range body.Readings {
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
	obj, d, err := openFetched(blockFile(dir, blockID))
	if err != nil {
		return err
	}
	n, err := openView(cfgPath)
	if err != nil {
		return err
	}
	defer n.Close()
	if d != nil {
		// A listed recipient does not need the delivery; prefer the object's own entry.
		if o, err := envelope.Parse(obj); err == nil {
			if _, err := o.DataKey(priv); err == nil {
				d = nil
			}
		}
	}
	v := &verify.Verifier{Ledger: n.Ledger, Key: priv}
	return printReport(v.Fetched(ctx, blockID, obj, d, seq), stdout)
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
