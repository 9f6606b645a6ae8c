package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/protocols"
)

// disclosureBundles seals one poll of valve-1 (flow, a float; open and
// closed, booleans) in a block of the given format and returns the bundle
// of the flow reading (seq 1) as a partner receives it and, for the test's
// own control, the bundle of its neighbour (open, seq 2).
func disclosureBundles(t *testing.T, format int) (b, neighbour *ProofBundle) {
	t.Helper()
	c := pipelinetest.New(t, pipelinetest.WithDevices("valve-1"))
	if format == 2 {
		useV2(t, c)
	}
	c.IngestPoll(t, "valve-1", time.Unix(1_700_000_100, 0),
		protocols.Sample{Point: "flow", Value: 2.5, Unit: "l/s", Quality: protocols.Good},
		protocols.Sample{Point: "open", Value: true, Quality: protocols.Good},
		protocols.Sample{Point: "closed", Value: false, Quality: protocols.Good})
	c.Seal(t)
	c.Drain(t)
	rec, err := c.Store.BlockForSeq(1)
	if err != nil {
		t.Fatal(err)
	}
	p := proverOf(t, c, rec)
	b, err = p.Bundle(rec, 1)
	if err != nil {
		t.Fatal(err)
	}
	if neighbour, err = p.Bundle(rec, 2); err != nil {
		t.Fatal(err)
	}
	got, _ := viaJSON(t, b)
	if _, err := VerifyProof(got, c.Public); err != nil {
		t.Fatal(err)
	}
	if r, _ := reading.Decode(neighbour.Reading); r == nil || r.Value() != true {
		t.Fatalf("the neighbour is not the boolean: %+v", r)
	}
	return got, neighbour
}

// byteStrings is everything in a bundle an attacker can test guesses
// against: every byte string, every string (and its hex decoding), found
// by walking all fields, so a field added later is searched too.
func byteStrings(b *ProofBundle) [][]byte {
	var out [][]byte
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				out = append(out, bytes.Clone(v.Bytes()))
				return
			}
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.String:
			out = append(out, []byte(v.String()))
			if d, err := hex.DecodeString(v.String()); err == nil {
				out = append(out, d)
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(k)
				walk(v.MapIndex(k))
			}
		}
	}
	walk(reflect.ValueOf(b))
	if js, err := json.Marshal(b); err == nil {
		out = append(out, js)
	}
	return out
}

func nodeHash(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

// guessMatches tries a guess of a reading's canonical bytes against
// everything in the bundle: the bytes themselves, their plain SHA-256, their
// unsalted (v1) leaf hash, their salted leaf hash under every 16-byte
// substring of every byte string of the bundle as the salt and under the
// extra salts, and the Merkle parents of the unsalted leaves and of the
// extra salts' leaves with every 32-byte substring as the sibling.
func guessMatches(strs [][]byte, guess []byte, extra ...[]byte) bool {
	found := func(x []byte) bool {
		for _, s := range strs {
			if bytes.Contains(s, x) {
				return true
			}
		}
		return false
	}
	if found(guess) {
		return true
	}
	salted := func(strs [][]byte) [][]byte {
		var out [][]byte
		for _, s := range strs {
			for i := 0; i+reading.SaltSize <= len(s); i++ {
				out = append(out, reading.SaltedLeafHash([reading.SaltSize]byte(s[i:i+reading.SaltSize]), guess))
			}
		}
		return out
	}
	plain := sha256.Sum256(guess)
	// The leaves whose parents are tried too: the unsalted ones and those
	// of the extra salts (a bundle's own substrings as salts give leaves
	// that are searched, but their parents would cost hours).
	leaves := append([][]byte{reading.LeafHash(guess), plain[:]}, salted(extra)...)
	for _, l := range salted(strs) {
		if found(l) {
			return true
		}
	}
	var siblings [][]byte
	for _, s := range strs {
		for i := 0; i+32 <= len(s); i++ {
			siblings = append(siblings, s[i:i+32])
		}
	}
	for _, l := range leaves {
		if found(l) {
			return true
		}
		for _, sib := range siblings {
			if found(nodeHash(l, sib)) || found(nodeHash(sib, l)) {
				return true
			}
		}
	}
	return false
}

// guesses are the neighbour's canonical bytes with each boolean value:
// everything else about it (appliance, device, point, unit, quality,
// times, seq) is known.
func guesses(t *testing.T, neighbour []byte) map[bool][]byte {
	t.Helper()
	out := map[bool][]byte{}
	for _, v := range []bool{false, true} {
		r, err := reading.Decode(neighbour)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetValue(v); err != nil {
			t.Fatal(err)
		}
		if out[v], err = r.Encode(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[true], neighbour) {
		t.Fatal("the true guess is not the neighbour's bytes: the guess does not know everything but the value")
	}
	return out
}

// TestSelectiveDisclosure (issue #18, property 2): the bundle of a reading
// whose neighbour in the same poll is a boolean lets no guess of the
// neighbour's value be confirmed. The v1 format fails this (its bundle
// carries the poll's unsalted leaf hashes), which the test asserts too, so
// the search is shown to find a leak where there is one.
func TestSelectiveDisclosure(t *testing.T) {
	t.Run("v1 leaks", func(t *testing.T) {
		b, nb := disclosureBundles(t, 1)
		g := guesses(t, nb.Reading)
		strs := byteStrings(b)
		if !guessMatches(strs, g[true]) {
			t.Fatal("v1 bundle: the true guess of the neighbour does not match; the search misses the known v1 leak")
		}
		if guessMatches(strs, g[false]) {
			t.Fatal("v1 bundle: the false guess matches too")
		}
	})
	t.Run("v2 discloses one reading", func(t *testing.T) {
		b, nb := disclosureBundles(t, 2)
		g := guesses(t, nb.Reading)
		strs := byteStrings(b)
		for v, guess := range g {
			if guessMatches(strs, guess) {
				t.Fatalf("v2 bundle: the guess %v of the neighbour matches something in the bundle", v)
			}
		}
		// The neighbour's own salt would confirm the true guess: the search
		// finds a leak in v2 too, had the bundle carried that salt.
		if !guessMatches(strs, g[true], nb.Salt) {
			t.Fatal("v2: the neighbour's salt does not confirm the true guess; the search is blind")
		}
		if guessMatches(strs, g[false], nb.Salt) {
			t.Fatal("v2: the neighbour's salt confirms the false guess")
		}
	})
}
