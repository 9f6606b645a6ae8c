package envelope

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// FuzzParseV2Open: ParseV2 never panics on any bytes, and an object that
// parses opens with the owner key (key set, then every section with the
// fixture's section keys) either not at all or to exactly what was sealed,
// under the header that was sealed, each poll at its own position.
func FuzzParseV2Open(f *testing.F) {
	owner, partner := fuzzKeys()
	fx := newV2Fixture(f)
	f.Add(fx.seal(f, owner.PublicKey()))
	f.Add(fx.seal(f, owner.PublicKey(), partner.PublicKey()))
	one := &v2Fixture{header: fx.header, sig: fx.sig, keySet: fx.keySet, polls: fx.polls[:1]}
	f.Add(one.seal(f, owner.PublicKey()))
	c := mustCodec(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseV2(data)
		if err != nil {
			return
		}
		if o.Format != FormatV2 || len(o.Polls) == 0 || len(o.Recipients) == 0 {
			t.Fatalf("ParseV2 accepted format %q with %d polls, %d recipients", o.Format, len(o.Polls), len(o.Recipients))
		}
		if ks, err := o.KeySet(owner); err == nil && (!bytes.Equal(ks, fx.keySet) || !bytes.Equal(o.Header, fx.header)) {
			t.Fatalf("key set %q unwrapped under header %q", ks, o.Header)
		}
		for k := range o.Polls {
			for kk, p := range fx.polls {
				got, err := o.OpenPoll(c, k, p.SectionKey)
				if err != nil {
					continue
				}
				if kk != k || !bytes.Equal(o.Header, fx.header) || !sameReadings(got, p.Readings) {
					t.Fatalf("section at %d opened with poll %d's key to %q", k, kk, got)
				}
			}
		}
	})
}

func sameReadings(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// FuzzSectionPlaintext: what a section key holder could put inside a
// section (any zstd frame, any plaintext) never panics the reader, never
// expands beyond the cap, and parses only in canonical form.
func FuzzSectionPlaintext(f *testing.F) {
	const limit = 1 << 16
	c, err := newCodec(limit)
	if err != nil {
		f.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Fatal(err)
	}
	for _, items := range [][][]byte{{[]byte("one reading")}, {{}, {1, 2, 3}}, {make([]byte, 2*limit)}} {
		f.Add(enc.EncodeAll(mustMarshal(items), nil))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		key, hh := sectionKey(0), headerHash([]byte("h"))
		gcm, err := newGCM(key[:])
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.OpenSection(EncodingZstdCBOR, key, hh, 0, gcm.Seal(nil, sectionNonce[:], frame, SectionAAD(hh, 0)))
		if err != nil {
			return
		}
		total := 0
		for _, r := range got {
			total += len(r)
		}
		if total > limit || len(got) == 0 {
			t.Fatalf("opened %d readings of %d bytes past a %d-byte cap", len(got), total, limit)
		}
		plain, err := c.dec.DecodeAll(frame, nil)
		if err != nil || !bytes.Equal(mustMarshal(got), plain) {
			t.Fatalf("accepted a plaintext that is not the canonical array of what it returned (%v)", err)
		}
	})
}
