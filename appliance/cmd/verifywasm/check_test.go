package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The bundles in testdata were served by the appliance's proof endpoint
// (v1 and v2 blocks, anchored, so they carry their signing key's entry).
func readBundle(t *testing.T, name string) ([]byte, map[string]any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return b, m
}

func statuses(r Report) string {
	var s []string
	for _, l := range r.Links {
		s = append(s, l.Name+" "+l.Status)
	}
	return strings.Join(s, ",")
}

const allOK = "reading ok,poll signature ok,merkle proof ok,header signature ok,signing key ok"

func TestCheckGoodBundles(t *testing.T) {
	for _, name := range []string{"bundle-v1.json", "bundle-v2.json"} {
		raw, m := readBundle(t, name)
		pub := m["signing_key"].(map[string]any)["publicKey"].(string)
		pubBytes, _ := base64.StdEncoding.DecodeString(pub)
		for _, key := range []string{"", pub, hex.EncodeToString(pubBytes)} {
			r := check(raw, key)
			if !r.OK || r.Error != "" || statuses(r) != allOK || r.Reading == nil || r.Reading.Seq != 7 {
				t.Fatalf("%s with key %q: %+v", name, key, r)
			}
			// What an offline check cannot establish is said, always.
			if len(r.NotChecked) < 2 || !strings.Contains(r.NotChecked[0], "checked on the ledger, not offline") {
				t.Fatalf("%s with key %q: not checked %q", name, key, r.NotChecked)
			}
		}
	}
}

// Any flipped byte of the bundle's signed material fails a link, and the
// links after it are not checked.
func TestCheckFlippedBytes(t *testing.T) {
	for _, name := range []string{"bundle-v1.json", "bundle-v2.json"} {
		_, m := readBundle(t, name)
		for field, v := range m {
			s, ok := v.(string)
			if !ok || field == "block_id" || field == "object_hash" || field == "location" || field == "state" || field == "appliance_id" {
				continue // not bytes, or not covered by the offline check (see TestCheckClaims)
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				t.Fatalf("%s: field %s is not base64", name, field)
			}
			for i := range b {
				for _, bit := range []byte{0x01, 0x80} {
					c := append([]byte(nil), b...)
					c[i] ^= bit
					m2 := map[string]any{}
					for k, v := range m {
						m2[k] = v
					}
					m2[field] = base64.StdEncoding.EncodeToString(c)
					raw, _ := json.Marshal(m2)
					r := check(raw, "")
					if r.OK {
						t.Fatalf("%s: byte %d of %s flipped (%#x) passes", name, i, field, bit)
					}
					if r.Error == "" && !strings.Contains(statuses(r), " failed") {
						t.Fatalf("%s: byte %d of %s flipped: no failed link in %s", name, i, field, statuses(r))
					}
				}
			}
		}
	}
}

// The bundle's claims about the block are checked against its header.
func TestCheckClaims(t *testing.T) {
	raw, m := readBundle(t, "bundle-v1.json")
	for field, v := range map[string]any{"block_id": strings.Repeat("0", 64), "height": 2, "appliance_id": "app-2", "seq": 8} {
		m2 := map[string]any{}
		for k, x := range m {
			m2[k] = x
		}
		m2[field] = v
		b, _ := json.Marshal(m2)
		if r := check(b, ""); r.OK {
			t.Fatalf("bundle claiming %s %v passes", field, v)
		}
	}
	if r := check(raw, ""); !r.OK {
		t.Fatalf("unchanged: %+v", r)
	}
}

func TestCheckKeys(t *testing.T) {
	raw, m := readBundle(t, "bundle-v2.json")
	pub := m["signing_key"].(map[string]any)["publicKey"].(string)
	other := strings.Repeat("ab", 32)
	r := check(raw, other)
	if r.OK || statuses(r) != "reading ok,poll signature ok,merkle proof ok,header signature ok,signing key failed" ||
		!strings.Contains(r.Links[4].Detail, "not by the key you gave") {
		t.Fatalf("another key: %+v", r)
	}
	if r := check(raw, "not a key"); r.OK || !strings.Contains(r.Error, "neither 32 bytes of hex nor of base64") {
		t.Fatalf("a bad key: %+v", r)
	}
	// Without a key entry in the bundle, a key must be given, and the
	// report says the key's history was not checked.
	delete(m, "signing_key")
	delete(m, "anchored_at")
	noKey, _ := json.Marshal(m)
	if r := check(noKey, ""); r.OK || !strings.Contains(r.Error, "give the appliance's public key") {
		t.Fatalf("no key anywhere: %+v", r)
	}
	if r := check(noKey, other); r.OK || !strings.Contains(statuses(r), "failed") {
		t.Fatalf("no key entry, another key: %+v", r)
	}
	r = check(noKey, pub)
	if !r.OK || !strings.Contains(strings.Join(r.NotChecked, " "), "only the signatures were checked") {
		t.Fatalf("no key entry, the right key: %+v", r)
	}
}

func TestCheckNotABundle(t *testing.T) {
	for _, in := range []string{"", "{", "[]", `{"height": 1}`} {
		if r := check([]byte(in), ""); r.OK || !strings.HasPrefix(r.Error, "not a proof bundle") {
			t.Fatalf("%q: %+v", in, r)
		}
	}
	if s := reportJSON(check([]byte("{}"), "")); !strings.Contains(s, `"ok":false`) {
		t.Fatalf("report JSON %s", s)
	}
}
