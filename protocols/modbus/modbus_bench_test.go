package modbus_test

import (
	"context"
	"testing"

	"github.com/wotchain/wotchain/bench"
)

// BenchmarkModbusRequests reports the requests one poll cycle needs with
// coalescing (one Source per device, as the appliance polls) and without
// (one request per point), for the example plant's Modbus device and a
// representative press-line layout, against the in-process simulator.
// ns/op covers one poll cycle each way.
//
//	go test -run '^$' -bench ModbusRequests ./protocols/modbus/
func BenchmarkModbusRequests(b *testing.B) {
	for _, l := range []bench.ModbusLayout{bench.ExamplePlantLayout(), bench.PressLineLayout()} {
		b.Run(l.Name, func(b *testing.B) {
			r, err := bench.MeasureModbusRequests(context.Background(), l, b.N)
			if err != nil {
				b.Fatal(err)
			}
			if !r.CoalescedOK || !r.UncoalescedOK {
				b.Fatalf("not every sample was Good: %+v", r)
			}
			b.ReportMetric(float64(r.Coalesced), "requests/cycle")
			b.ReportMetric(float64(r.Uncoalesced), "uncoalesced-requests/cycle")
			b.ReportMetric(float64(r.CoalescedT.Microseconds())/1000, "cycle-ms")
			b.ReportMetric(float64(r.UncoalescedT.Microseconds())/1000, "uncoalesced-cycle-ms")
		})
	}
}

// BenchmarkModbusPerRequest compares one request through our Source (a
// one-point poll: request, decode, sample) with a bare goburrow client
// reading the same registers of the same simulator. Each iteration does one
// of each, alternately, so both see the same load; x-bare-goburrow is the
// Source's requests/s over the bare loop's (target: overhead within 1.1x,
// i.e. >= 0.91). ns/op covers both requests.
//
//	go test -run '^$' -bench ModbusPerRequest -benchtime 100000x ./protocols/modbus/
func BenchmarkModbusPerRequest(b *testing.B) {
	rig, err := bench.StartModbusRig()
	if err != nil {
		b.Fatal(err)
	}
	defer rig.Close()
	bare, err := rig.Bare()
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	src, err := rig.Source(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	b.ResetTimer()
	base, ours, err := bench.Interleave(bare, src, b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(base.OpsPerSec(), "bare-requests/s")
	b.ReportMetric(ours.OpsPerSec(), "requests/s")
	b.ReportMetric(float64(base.Percentile(0.5).Nanoseconds())/1000, "bare-p50-us")
	b.ReportMetric(float64(ours.Percentile(0.5).Nanoseconds())/1000, "p50-us")
	b.ReportMetric(float64(ours.Percentile(0.99).Nanoseconds())/1000, "p99-us")
	b.ReportMetric(ours.OpsPerSec()/base.OpsPerSec(), "x-bare-goburrow")
}
