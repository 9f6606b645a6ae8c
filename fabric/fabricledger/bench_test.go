package fabricledger_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/fabric/network"
)

// BenchmarkAnchorFabric anchors blocks on a local two-organisation Fabric
// network, one transaction per block (single, what the outbox did before
// batches) against one transaction per 64 blocks (batch-64, the outbox's
// default cap when catching up a backlog). Each op is one transaction,
// endorsed by both peers, ordered and committed; blocks/s is the figure to
// compare. Building and signing the blocks is not timed.
//
//	go test -run '^$' -bench AnchorFabric -benchtime 20x ./fabric/fabricledger/
func BenchmarkAnchorFabric(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	net := startNetwork(ctx, b)
	admin := connect(b, net, network.ManufacturerMSP, "Admin")
	anchor := connect(b, net, network.ManufacturerMSP, "User1")

	runs := 0
	for _, bc := range []struct {
		name  string
		batch int
	}{{"single", 1}, {"batch-64", 64}} {
		b.Run(bc.name, func(b *testing.B) {
			// A fresh appliance per run, so every block is new to the ledger.
			runs++
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			app := rules.Appliance{ID: fmt.Sprintf("bench-%s-%d", bc.name, runs), PublicKey: pub,
				AnchorMSP: anchor.Identity().MSPID, AnchorID: anchor.Identity().ID}
			if err := admin.RegisterAppliance(ctx, app); err != nil {
				b.Fatalf("register: %v", err)
			}
			var height uint64
			var prev []byte
			blocks := 0
			for b.Loop() {
				b.StopTimer()
				subs := make([]format.Submission, bc.batch)
				for i := range subs {
					subs[i] = submissionAt(b, priv, app.ID, height, prev)
					prev, _ = hex.DecodeString(format.BlockID(subs[i].Header))
					height++
				}
				b.StartTimer()
				if bc.batch == 1 {
					if _, recorded, err := anchor.Anchor(ctx, subs[0]); err != nil || !recorded {
						b.Fatalf("anchor block %d: recorded=%v err=%v", height-1, recorded, err)
					}
				} else {
					out, err := anchor.AnchorBatch(ctx, subs)
					if err != nil || len(out) != bc.batch || !out[bc.batch-1].Recorded {
						b.Fatalf("anchor blocks %d..%d: %d results, %v", height-uint64(bc.batch), height-1, len(out), err)
					}
				}
				blocks += bc.batch
			}
			b.ReportMetric(float64(blocks)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}
