package store

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/linxGnu/grocksdb"
	"github.com/wotchain/wotchain/chaincode/format"
)

// sealedRecord is a block record as the sealer commits it, over a real
// canonical header.
func sealedRecord(height uint64) *BlockRecord {
	first, last := 1+height*10, 10+height*10
	h := &format.Header{Version: format.HeaderV1, ApplianceID: "a-1", Height: height, FirstSeq: first, LastSeq: last,
		FirstTime: 1, LastTime: 2, Devices: []string{"press-1"}, Count: 10, MerkleRoot: bytes.Repeat([]byte{1}, 32), SealedAt: 3}
	if height > 0 {
		h.PrevHash = bytes.Repeat([]byte{2}, 32)
	}
	hb, err := h.Encode()
	if err != nil {
		panic(err)
	}
	return &BlockRecord{Height: height, BlockID: format.BlockID(hb), Header: hb, HeaderSig: bytes.Repeat([]byte{3}, 64),
		FirstSeq: first, LastSeq: last, ObjectHash: fmt.Sprintf("%064x", height), Location: "fs:x", State: Uploaded, SealedAt: 3}
}

// FuzzBlockRecord stores arbitrary bytes where the record of block 3 is
// expected, in a real RocksDB store, and reads it back the ways the
// appliance does: Block (outbox), LastBlock (sealer), BlockForSeq (verify)
// and Blocks (licensor). Nothing may panic, and a record returned for
// height 3 must be the record of block 3 and of the header it carries: the
// outbox writes a block's new state under rec.Height and removes
// rec.Height from the outbox, and the sealer links the next block to
// rec.BlockID, so a record that names another height or id misleads both.
func FuzzBlockRecord(f *testing.F) {
	s, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	for h := uint64(0); h <= 3; h++ {
		if err := s.CommitBlock(sealedRecord(h), []byte("object")); err != nil {
			f.Fatal(err)
		}
	}
	for _, st := range []BlockState{Sealed, Uploaded, Anchored} {
		rec := sealedRecord(3)
		rec.State = st
		v, err := cbor.Marshal(rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v)
	}
	wo := grocksdb.NewDefaultWriteOptions() // not synced: this is a scratch store
	f.Cleanup(wo.Destroy)

	f.Fuzz(func(t *testing.T, v []byte) {
		if err := s.db.PutCF(wo, s.h(cfBlocks), u64(3), v); err != nil {
			t.Fatal(err)
		}
		check := func(how string, rec *BlockRecord) {
			if rec.Height != 3 {
				t.Fatalf("%s: the record stored for block 3 says height %d", how, rec.Height)
			}
			if rec.BlockID != format.BlockID(rec.Header) {
				t.Fatalf("%s: block 3's record names block %q but carries the header of %s", how, rec.BlockID, format.BlockID(rec.Header))
			}
		}
		if rec, err := s.Block(3); err == nil {
			check("Block", rec)
		}
		if rec, err := s.LastBlock(); err == nil {
			check("LastBlock", rec)
		}
		if rec, err := s.BlockForSeq(35); err == nil {
			check("BlockForSeq", rec)
		}
		_ = s.Blocks(0, func(rec *BlockRecord) (bool, error) {
			if rec.Height >= 3 || rec.FirstSeq > 30 {
				check("Blocks", rec)
			}
			return true, nil
		})
	})
}
