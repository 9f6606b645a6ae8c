package livegrant

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

// partner is a partner's HPKE key pair.
func partner(t testing.TB) (hpke.PrivateKey, *rules.Grant) {
	t.Helper()
	priv, err := hpke.DHKEM(ecdh.X25519()).GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return priv, &rules.Grant{ApplianceID: "app-1", PartnerKEM: priv.KEM().ID(), PartnerKey: priv.PublicKey().Bytes()}
}

// livePoll is one signed v2 poll of device at t with n readings from seq
// first, and their payloads' JSON.
func livePoll(t testing.TB, priv ed25519.PrivateKey, device string, tm int64, first uint64, n int) [][]byte {
	t.Helper()
	encoded := make([][]byte, n)
	salts := make([][reading.SaltSize]byte, n)
	leaves := make([][]byte, n)
	for j := range n {
		r := &reading.Reading{ApplianceID: "app-1", DeviceID: device, Point: fmt.Sprintf("p%d", j),
			Quality: protocols.Good, ApplianceTime: tm, Seq: first + uint64(j)}
		v := float64(first) + 0.25
		r.Float = &v
		e, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		encoded[j] = e
		rand.Read(salts[j][:])
		leaves[j] = reading.SaltedLeafHash(salts[j], e)
	}
	root, err := reading.PollRoot(leaves)
	if err != nil {
		t.Fatal(err)
	}
	rec := &reading.PollRecord{ApplianceID: "app-1", DeviceID: device, FirstSeq: first, LastSeq: first + uint64(n) - 1, PollRoot: root}
	st, err := rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	rec.Signature = ed25519.Sign(priv, st)
	out := make([][]byte, n)
	for j := range n {
		p, err := NewPayload(rec, encoded, salts, j)
		if err != nil {
			t.Fatal(err)
		}
		if out[j], err = json.Marshal(p); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestCovers(t *testing.T) {
	g := &rules.Grant{Devices: []string{"a"}, From: 10, To: 20}
	cases := []struct {
		name    string
		revoked int64
		device  string
		t       int64
		want    bool
	}{
		{"in", 0, "a", 15, true},
		{"window edges inclusive", 0, "a", 10, true},
		{"window end", 0, "a", 20, true},
		{"before", 0, "a", 9, false},
		{"after", 0, "a", 21, false},
		{"other device", 0, "b", 15, false},
		{"before revocation", 16, "a", 15, true},
		{"at revocation", 16, "a", 16, false},
		{"after revocation", 16, "a", 17, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gg := *g
			gg.RevokedAt = c.revoked
			if got := Covers(&gg, c.device, c.t); got != c.want {
				t.Fatalf("Covers = %v, want %v", got, c.want)
			}
		})
	}
	if !Covers(&rules.Grant{From: 0, To: 100}, "any", 50) {
		t.Fatal("a grant naming no device covers every device")
	}
}

func TestSealOpenVerify(t *testing.T) {
	apub, apriv, _ := ed25519.GenerateKey(rand.Reader)
	ppriv, g := partner(t)
	g.ID, g.From, g.To = "g1", 0, 1<<62
	s, err := NewSealer(g, time.Minute, NewMemKeys())
	if err != nil {
		t.Fatal(err)
	}
	plain := livePoll(t, apriv, "d", int64(time.Hour), 7, 3)
	msg, km, err := s.Seal(8, "d", int64(time.Hour), plain[1])
	if err != nil || km == nil {
		t.Fatalf("Seal: %v, key message %v", err, km)
	}
	var plainMsg Payload
	if err := json.Unmarshal(plain[1], &plainMsg); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(msg.Ciphertext, plainMsg.Canonical) || bytes.Contains(msg.Ciphertext, []byte(plainMsg.LeafHash)) {
		t.Fatal("ciphertext holds plaintext")
	}
	ek, err := km.Unwrap(ppriv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(ek, msg)
	if err != nil {
		t.Fatal(err)
	}
	var p Payload
	if err := json.Unmarshal(got, &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(apub); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if err := p.Verify(otherPub); err == nil {
		t.Fatal("verified against another appliance key")
	}
	p.PollPath[0] = bytes.Repeat([]byte{1}, 32)
	if err := p.Verify(apub); err == nil {
		t.Fatal("verified with a wrong poll path")
	}
	// Associated data: seq, epoch and grant are bound.
	for name, mut := range map[string]func(m *Sealed){
		"seq":   func(m *Sealed) { m.Seq++ },
		"epoch": func(m *Sealed) { m.Epoch++ },
		"byte":  func(m *Sealed) { m.Ciphertext[0] ^= 1 },
	} {
		m := *msg
		m.Ciphertext = bytes.Clone(msg.Ciphertext)
		mut(&m)
		k := *ek
		k.Epoch = m.Epoch
		if _, err := Open(&k, &m); err == nil {
			t.Errorf("%s changed: opened", name)
		}
	}
	// A key message of another grant or epoch does not unwrap.
	bad := *km
	bad.Grant = "g2"
	if _, err := bad.Unwrap(ppriv); err == nil {
		t.Fatal("key unwrapped as another grant's")
	}
	// Another partner cannot unwrap.
	opriv, _ := partner(t)
	if _, err := km.Unwrap(opriv); err == nil {
		t.Fatal("another partner unwrapped the key")
	}
	// Same epoch: no new key message; next epoch: one.
	if _, km2, _ := s.Seal(9, "d", int64(time.Hour)+1, plain[2]); km2 != nil {
		t.Fatal("new key within an epoch")
	}
	if _, km3, _ := s.Seal(10, "d", int64(time.Hour+time.Minute), plain[2]); km3 == nil || km3.Epoch == km.Epoch {
		t.Fatal("no new key for the next epoch")
	}
}

// Property: for random grants and readings, a partner opens exactly the
// readings its grant covers, none of another grant's, and after a
// revocation (learnt mid-stream) nothing taken from it on.
func TestPropertyExactlyGranted(t *testing.T) {
	apub, apriv, _ := ed25519.GenerateKey(rand.Reader)
	devices := []string{"a", "b", "c"}
	for iter := range 30 {
		rng := mrand.New(mrand.NewPCG(uint64(iter), 1))
		type grantee struct {
			priv   hpke.PrivateKey
			g      *rules.Grant
			s      *Sealer
			keys   map[uint64]*EpochKey
			msgs   []*Sealed
			revoke int64
		}
		var gs []*grantee
		for k := range 3 {
			priv, g := partner(t)
			g.ID = fmt.Sprintf("g%d", k)
			g.From = rng.Int64N(500)
			g.To = g.From + rng.Int64N(600)
			for _, d := range devices {
				if rng.IntN(2) == 0 {
					g.Devices = append(g.Devices, d)
				}
			}
			s, err := NewSealer(g, 50, NewMemKeys())
			if err != nil {
				t.Fatal(err)
			}
			ge := &grantee{priv: priv, g: g, s: s, keys: map[uint64]*EpochKey{}}
			if rng.IntN(2) == 0 {
				ge.revoke = rng.Int64N(1000)
			}
			gs = append(gs, ge)
		}
		type rd struct {
			device string
			t      int64
			seq    uint64
		}
		var all []rd
		seq := uint64(1)
		for tm := int64(0); tm < 1000; tm += 1 + rng.Int64N(40) {
			d := devices[rng.IntN(len(devices))]
			n := 1 + rng.IntN(3)
			plain := livePoll(t, apriv, d, tm, seq, n)
			for j := range n {
				all = append(all, rd{d, tm, seq})
				for _, ge := range gs {
					if ge.revoke != 0 && tm >= ge.revoke {
						ge.s.Revoke(ge.revoke)
					}
					msg, km, err := ge.s.Seal(seq, d, tm, plain[j])
					if errors.Is(err, ErrNotGranted) {
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					if km != nil {
						// Every partner sees every key message (the broker
						// operator too); only the grant's partner opens it.
						for _, other := range gs {
							ek, err := km.Unwrap(other.priv)
							if (err == nil) != (other == ge) {
								t.Fatalf("grant %s's key opened by grant %s's partner: %v", ge.g.ID, other.g.ID, err)
							}
							if err == nil {
								other.keys[ek.Epoch] = ek
							}
						}
					}
					ge.msgs = append(ge.msgs, msg)
				}
				seq++
			}
		}
		for _, ge := range gs {
			var got []uint64
			for _, m := range ge.msgs {
				ek := ge.keys[m.Epoch]
				if ek == nil {
					t.Fatalf("grant %s: no key for epoch %d", ge.g.ID, m.Epoch)
				}
				pt, err := Open(ek, m)
				if err != nil {
					t.Fatal(err)
				}
				var p Payload
				if err := json.Unmarshal(pt, &p); err != nil {
					t.Fatal(err)
				}
				if err := p.Verify(apub); err != nil {
					t.Fatal(err)
				}
				if p.Seq != m.Seq {
					t.Fatalf("message seq %d carries reading %d", m.Seq, p.Seq)
				}
				got = append(got, p.Seq)
			}
			var want []uint64
			for _, r := range all {
				if ge.revoke != 0 && r.t >= ge.revoke {
					continue
				}
				if Covers(ge.g, r.device, r.t) {
					want = append(want, r.seq)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("iter %d grant %+v revoke %d:\n got %v\nwant %v", iter, ge.g, ge.revoke, got, want)
			}
			// Independently of Covers: every reading opened is of the
			// grant's devices, window, and before the revocation.
			for _, s := range got {
				r := all[s-1]
				if r.t < ge.g.From || r.t > ge.g.To || (ge.revoke != 0 && r.t >= ge.revoke) {
					t.Fatalf("grant %s opened reading %d at %d", ge.g.ID, s, r.t)
				}
			}
		}
	}
}
