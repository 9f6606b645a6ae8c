package rules

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"

	"github.com/wotchain/wotchain/chaincode/format"
)

// fuzzNow is every fuzz transaction's time (Unix ns), fixed so that saved
// inputs reproduce.
const fuzzNow int64 = 1_800_000_000_000_000_000

// fuzzKey is the appliance key of fuzzWorld, fixed so that saved inputs
// reproduce.
func fuzzKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

// fuzzWorld is a ledger with one registered appliance and two anchored
// blocks, built without *testing.T so fuzz targets can seed from it.
func fuzzWorld() (st *memState, headers [][]byte) {
	priv := fuzzKey()
	st = newMemState()
	if err := RegisterAppliance(st, policy, admin, Appliance{ID: appID, PublicKey: priv.Public().(ed25519.PublicKey), AnchorMSP: anchor.MSPID, AnchorID: anchor.ID, OwnerMSP: "OwnerMSP"}, fuzzNow); err != nil {
		panic(err)
	}
	for _, sub := range fuzzSubs(priv, 0, nil, 2) {
		if _, _, err := RecordCredential(st, anchor, sub, fuzzNow); err != nil {
			panic(err)
		}
		headers = append(headers, sub.Header)
	}
	return st, headers
}

// fuzzSubs returns n linked submissions of fuzzWorld's appliance from
// height from, the first linking to the block whose id is prev.
func fuzzSubs(priv ed25519.PrivateKey, from uint64, prev []byte, n int) []format.Submission {
	var out []format.Submission
	for height := from; height < from+uint64(n); height++ {
		root := bytes.Repeat([]byte{byte(height + 1)}, 32)
		h := &format.Header{Version: format.HeaderV1, ApplianceID: appID, Height: height, PrevHash: prev,
			FirstSeq: 1 + height*10, LastSeq: 10 + height*10, FirstTime: int64(height) * 1000, LastTime: int64(height)*1000 + 999,
			Devices: []string{"boiler-1", "press-1"}, Count: 10, MerkleRoot: root, SealedAt: 5}
		hb, err := h.Encode()
		if err != nil {
			panic(err)
		}
		out = append(out, format.Submission{Header: hb, HeaderSig: format.SignHeader(priv, hb), ObjectHash: objHash(int(height)), Location: "fs:" + objHash(int(height))})
		prev, _ = hex.DecodeString(format.BlockID(hb))
	}
	return out
}

// FuzzGetCredential puts arbitrary bytes where the ledger keeps block 1's
// credential and reads it back through GetCredential, CredentialAt and
// ListByAppliance. None may panic, and whatever they return must agree with
// its own signed header: the summary fields are re-derived from the header,
// so a record altered on the ledger side is refused, never trusted.
func FuzzGetCredential(f *testing.F) {
	st, headers := fuzzWorld()
	id := format.BlockID(headers[1])
	key, _ := CompositeKey(keyCredential, id)
	orig := st.kv[key]
	f.Add(orig)
	other, _ := CompositeKey(keyCredential, format.BlockID(headers[0]))
	f.Add(st.kv[other])
	f.Add([]byte(`{"blockId":"x","header":"AA=="}`))

	f.Fuzz(func(t *testing.T, v []byte) {
		st.kv[key] = v
		defer func() { st.kv[key] = orig }()
		check := func(how string, c *format.Credential) {
			h, err := format.ParseHeader(c.Header)
			if err != nil {
				t.Fatalf("%s returned a credential whose header does not parse: %v", how, err)
			}
			prev := ""
			if len(h.PrevHash) > 0 {
				prev = hex.EncodeToString(h.PrevHash)
			}
			if c.BlockID != format.BlockID(c.Header) || c.ApplianceID != h.ApplianceID || c.Height != h.Height ||
				c.PrevBlockID != prev || c.FirstSeq != h.FirstSeq || c.LastSeq != h.LastSeq ||
				c.FirstTime != h.FirstTime || c.LastTime != h.LastTime || c.Count != h.Count ||
				!slices.Equal(c.Devices, h.Devices) || c.MerkleRoot != hex.EncodeToString(h.MerkleRoot) {
				t.Fatalf("%s returned a credential that disagrees with its signed header: %+v vs %+v", how, c, h)
			}
		}
		if c, err := GetCredential(st, id); err == nil {
			check("GetCredential", c)
		}
		if c, err := CredentialAt(st, appID, 1); err == nil {
			check("CredentialAt", c)
		}
		if p, err := ListByAppliance(st, appID, 10, ""); err == nil {
			for _, c := range p.Credentials {
				check("ListByAppliance", c)
			}
		}
		if p, err := ListByDevice(st, "press-1", 0, 1<<62, 10, ""); err == nil {
			for _, c := range p.Credentials {
				check("ListByDevice", c)
			}
		}
	})
}

// A credential record stored under another block's key (here block 0's
// valid record copied to block 1's key) is self-consistent, so the
// summary check alone lets it through: GetCredential must also check that
// the record is the credential of the block it was asked for.
func TestCredentialUnderAnotherBlocksKeyRefused(t *testing.T) {
	st, headers := fuzzWorld()
	id0, id1 := format.BlockID(headers[0]), format.BlockID(headers[1])
	k0, _ := CompositeKey(keyCredential, id0)
	k1, _ := CompositeKey(keyCredential, id1)
	st.kv[k1] = slices.Clone(st.kv[k0])
	if c, err := GetCredential(st, id1); err == nil {
		t.Errorf("GetCredential(%s) returned the credential of block %s (height %d)", id1[:12], c.BlockID[:12], c.Height)
	}
	if c, err := CredentialAt(st, appID, 1); err == nil {
		t.Errorf("CredentialAt(height 1) returned a credential of height %d", c.Height)
	}
}

// FuzzGrantReadBack puts arbitrary bytes where the ledger keeps grant g-1
// of the appliance, then reads it back (GetGrant, ListGrants) and revokes
// it as the data owner. Nothing may panic; a revocation must take effect on
// the grant it names (read back revoked) and write nothing else; and a
// revoked grant covers no block sealed at or after its revocation.
func FuzzGrantReadBack(f *testing.F) {
	priv, err := hpke.DHKEM(ecdh.X25519()).DeriveKeyPair(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		f.Fatal(err)
	}
	st, _ := fuzzWorld()
	g := Grant{ID: "g-1", ApplianceID: appID, PartnerMSP: "PartnerMSP", PartnerKEM: 0x0020, PartnerKey: priv.PublicKey().Bytes(),
		Devices: []string{"press-1"}, From: 1000, To: 2000}
	if _, _, err := RecordGrant(st, ownerAdmin, g, 500); err != nil {
		f.Fatal(err)
	}
	key, _ := CompositeKey(keyGrant, appID, "g-1")
	f.Add(st.kv[key])
	revoked, err := RevokeGrant(st, ownerAdmin, appID, "g-1", 1500)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(st.kv[key])
	b, _ := json.Marshal(revoked)
	f.Add(b)
	base := cloneKV(st.kv)

	f.Fuzz(func(t *testing.T, v []byte) {
		st.kv = cloneKV(base)
		st.kv[key] = v
		got, err := GetGrant(st, appID, "g-1")
		page, lerr := ListGrants(st, appID, 10, "")
		if (err == nil) != (lerr == nil) {
			t.Fatalf("GetGrant error %v but ListGrants error %v", err, lerr)
		}
		if err != nil {
			return
		}
		if len(page.Grants) != 1 {
			t.Fatalf("ListGrants returned %d grants", len(page.Grants))
		}
		before := cloneKV(st.kv)
		if _, err := RevokeGrant(st, ownerAdmin, appID, "g-1", 1_000_000); err != nil {
			return
		}
		for k := range st.kv {
			if _, ok := before[k]; !ok {
				t.Fatalf("revoking g-1 of %s wrote the new key %q (record %s)", appID, k, v)
			}
		}
		after, err := GetGrant(st, appID, "g-1")
		if err != nil {
			t.Fatalf("grant unreadable after revocation: %v", err)
		}
		if after.RevokedAt == 0 {
			t.Fatalf("revocation did not take effect on grant g-1 (record %s)", v)
		}
		if after.Covers(got.Devices, got.From, got.To, after.RevokedAt) {
			t.Fatalf("revoked grant still covers a block sealed at its revocation: %+v", after)
		}
	})
}

func cloneKV(m map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}
