package store

import (
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func TestSigningKeyIDAndHoldsData(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if id, err := s.SigningKeyID(); err != nil || id != "" {
		t.Fatalf("SigningKeyID of a new store = %q, %v", id, err)
	}
	if held, err := s.HoldsData(); err != nil || held {
		t.Fatalf("HoldsData of a new store = %v, %v", held, err)
	}
	if err := s.SetSigningKeyID("3f2a00112233aabb"); err != nil {
		t.Fatal(err)
	}
	fill(t, s)
	if held, err := s.HoldsData(); err != nil || !held {
		t.Fatalf("HoldsData with readings = %v, %v", held, err)
	}
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	if id, err := s.SigningKeyID(); err != nil || id != "3f2a00112233aabb" {
		t.Fatalf("SigningKeyID after reopening = %q, %v", id, err)
	}
}

func TestBlockRecordKeyID(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	rec := blockRec(0, 1, 2)
	rec.KeyID = "3f2a00112233aabb"
	if err := s.CommitBlock(rec, []byte("object")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Block(0)
	if err != nil || got.KeyID != rec.KeyID {
		t.Fatalf("Block(0).KeyID = %q, %v", got.KeyID, err)
	}
	// A record written before key ids decodes with none, and one without
	// a key id encodes as before (the field is omitted).
	old := blockRec(1, 3, 5)
	v, err := cbor.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var m map[int]any
	if err := cbor.Unmarshal(v, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m[12]; ok {
		t.Fatal("an empty KeyID is encoded")
	}
	dec, err := decodeBlock(1, v)
	if err != nil || dec.KeyID != "" {
		t.Fatalf("old record: KeyID %q, %v", dec.KeyID, err)
	}
}
