package reading

import (
	"bytes"
	"crypto/ed25519"
	"math"
	"testing"

	"github.com/wotchain/wotchain/protocols"
)

// fuzzReadings are real readings as the normaliser produces them: one per
// value type, a Bad one without a value, and one with every field set.
func fuzzReadings() []*Reading {
	f, i, b, s := 21.5, int64(-70000), true, "auto"
	return []*Reading{
		goldenReading(),
		{ApplianceID: "a-1", DeviceID: "press-1", Point: "cycle_count", Int: &i, ApplianceTime: 1_700_000_000_000_000_000, Seq: 2},
		{ApplianceID: "a-1", DeviceID: "press-1", Point: "running", Bool: &b, ApplianceTime: 1, Seq: 3},
		{ApplianceID: "a-1", DeviceID: "boiler-1", Point: "mode", Str: &s, Quality: protocols.Uncertain, Reason: "sensor warming up", SourceTime: 5, ApplianceTime: 6, Seq: 4},
		{ApplianceID: "a-1", DeviceID: "env-1", Point: "co2", Unit: "ppm", Quality: protocols.Bad, Reason: "timeout", ApplianceTime: 7, Seq: 5},
		{ApplianceID: "a-1", DeviceID: "env-1", Point: "t", Float: &f, Unit: "degC", ApplianceTime: -1, Seq: math.MaxUint64},
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts is a reading the
// appliance could have written: it re-encodes to exactly the input bytes,
// carries at most one value, a known quality, and no non-finite number
// (SetValue refuses NaN and ±Inf, so no stored reading may hold one).
func FuzzDecode(f *testing.F) {
	for _, r := range fuzzReadings() {
		b, err := r.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			if r != nil {
				t.Fatal("Decode returned a reading with an error")
			}
			return
		}
		again, err := r.Encode()
		if err != nil {
			t.Fatalf("accepted reading does not re-encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted non-canonical bytes %x (canonical %x)", data, again)
		}
		if r.valueCount() > 1 {
			t.Fatalf("accepted a reading with %d values", r.valueCount())
		}
		if r.Quality > protocols.Bad {
			t.Fatalf("accepted quality %d", r.Quality)
		}
		if r.Float != nil && (math.IsNaN(*r.Float) || math.IsInf(*r.Float, 0)) {
			t.Fatalf("accepted a non-finite value %v (SetValue refuses it)", *r.Float)
		}
		if !bytes.Equal(LeafHash(data), LeafHash(again)) {
			t.Fatal("leaf hash differs between the input and its re-encoding")
		}
	})
}

// FuzzDecodePoll: DecodePoll never panics; an accepted record has a
// forward range, survives an encode/decode round trip unchanged (a v2
// record is its own canonical encoding), and a signature check on it never
// panics (with any number of leaf hashes).
func FuzzDecodePoll(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	for _, n := range []int{1, 3, 7} {
		b, err := EncodePoll(fuzzPoll(priv, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(n))
		b, err = EncodePoll(signedPollV2(f, priv, "press-7", 10, uint64(n), fuzzLeavesV2(n)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(n))
	}
	pub := priv.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, data []byte, nLeaves uint8) {
		p, err := DecodePoll(data)
		if err != nil {
			return
		}
		if p.LastSeq < p.FirstSeq {
			t.Fatalf("accepted inverted range %d..%d", p.FirstSeq, p.LastSeq)
		}
		b, err := EncodePoll(p)
		if err != nil {
			t.Fatalf("accepted record does not encode: %v", err)
		}
		back, err := DecodePoll(b)
		if err != nil {
			t.Fatalf("re-encoded record refused: %v", err)
		}
		if back.ApplianceID != p.ApplianceID || back.DeviceID != p.DeviceID || back.FirstSeq != p.FirstSeq ||
			back.LastSeq != p.LastSeq || !bytes.Equal(back.Signature, p.Signature) ||
			back.Version() != p.Version() || back.PollIndex != p.PollIndex || !bytes.Equal(back.PollRoot, p.PollRoot) {
			t.Fatalf("round trip changed the record: %+v -> %+v", p, back)
		}
		if p.Version() == PollV2 {
			if !bytes.Equal(b, data) {
				t.Fatalf("accepted a v2 record not in canonical encoding: %x (canonical %x)", data, b)
			}
			if len(p.PollRoot) != 32 {
				t.Fatalf("accepted a v2 record with a root of %d bytes", len(p.PollRoot))
			}
			if p.VerifySignature(pub) == nil || p.Verify(pub, fuzzLeavesV2(int(nLeaves))) == nil {
				want := signedPollV2(t, priv, "press-7", 10, p.PollIndex, fuzzLeavesV2(int(p.LastSeq-p.FirstSeq+1)))
				if p.FirstSeq != want.FirstSeq || p.LastSeq != want.LastSeq || p.DeviceID != want.DeviceID ||
					p.ApplianceID != want.ApplianceID || !bytes.Equal(p.PollRoot, want.PollRoot) {
					t.Fatalf("v2 signature verified for a record the key never signed: %+v", p)
				}
			}
			return
		}
		hashes := leafHashes(int(nLeaves))
		if err := p.Verify(pub, hashes); err == nil {
			// Only the seeds' own signatures over leafHashes(n) can verify.
			want := fuzzPoll(priv, len(hashes))
			if p.FirstSeq != want.FirstSeq || p.LastSeq != want.LastSeq || p.DeviceID != want.DeviceID || p.ApplianceID != want.ApplianceID {
				t.Fatalf("signature verified for a record the key never signed: %+v", p)
			}
		}
	})
}

// fuzzLeavesV2 are the salted leaves of a v2 poll of n readings 10..10+n-1.
func fuzzLeavesV2(n int) [][]byte {
	if n == 0 {
		return nil
	}
	return saltedLeaves(fixedSalts(3, n), v2Readings("press-7", 10, n))
}

// fuzzPoll is the record the appliance signs for a poll of n readings 10..10+n-1.
func fuzzPoll(priv ed25519.PrivateKey, n int) *PollRecord {
	hashes := leafHashes(n)
	p := &PollRecord{ApplianceID: "app-1", DeviceID: "press-7", FirstSeq: 10, LastSeq: 10 + uint64(n) - 1}
	msg, err := p.PollMessage(hashes)
	if err != nil {
		panic(err)
	}
	p.Signature = ed25519.Sign(priv, msg)
	return p
}
