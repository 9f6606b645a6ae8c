package normalise

import (
	"math"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols"
)

func TestReading(t *testing.T) {
	at := time.Unix(1700000000, 5).UTC()
	src := time.Unix(1690000000, 0).UTC()
	recv := time.Unix(1700000000, 1).UTC()
	cases := []struct {
		name        string
		in          protocols.Sample
		wantValue   any
		wantQuality protocols.Quality
		wantReason  string
	}{
		{"float", protocols.Sample{Point: "p", Value: 1.5}, 1.5, protocols.Good, ""},
		{"int", protocols.Sample{Point: "p", Value: int64(-3)}, int64(-3), protocols.Good, ""},
		{"bool", protocols.Sample{Point: "p", Value: true}, true, protocols.Good, ""},
		{"string", protocols.Sample{Point: "p", Value: "auto"}, "auto", protocols.Good, ""},
		{"uncertain keeps value", protocols.Sample{Point: "p", Value: 2.0, Quality: protocols.Uncertain, Reason: "stale"}, 2.0, protocols.Uncertain, "stale"},
		{"bad without value", protocols.Sample{Point: "p", Quality: protocols.Bad, Reason: "timeout"}, nil, protocols.Bad, "timeout"},
		{"NaN becomes bad", protocols.Sample{Point: "p", Value: math.NaN()}, nil, protocols.Bad, "value NaN is not a finite number"},
		{"unsupported type becomes bad", protocols.Sample{Point: "p", Value: int32(4)}, nil, protocols.Bad, "value of type int32 is not one of float64, int64, bool, string"},
		{"good without value becomes bad", protocols.Sample{Point: "p"}, nil, protocols.Bad, "no value"},
		{"reasons are kept", protocols.Sample{Point: "p", Value: math.Inf(1), Quality: protocols.Uncertain, Reason: "overrange"}, nil, protocols.Bad, "overrange; value +Inf is not a finite number"},
		{"unknown quality is bad", protocols.Sample{Point: "p", Value: 1.0, Quality: protocols.Quality(9)}, 1.0, protocols.Bad, ""},
		// Found by FuzzToSample (OPC UA): such a reading encoded but never
		// decoded, so its whole block could not be opened or proved.
		{"string value not UTF-8 becomes bad", protocols.Sample{Point: "p", Value: "\xff"}, nil, protocols.Bad, "string value is not valid UTF-8 (1 bytes)"},
		{"reason not UTF-8 is repaired", protocols.Sample{Point: "p", Quality: protocols.Bad, Reason: "got \xfe"}, nil, protocols.Bad, "got \uFFFD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Reading("app", "dev", c.in, 42, at)
			if r.Value() != c.wantValue || r.Quality != c.wantQuality || r.Reason != c.wantReason {
				t.Fatalf("got value %v quality %s reason %q; want %v %s %q", r.Value(), r.Quality, r.Reason, c.wantValue, c.wantQuality, c.wantReason)
			}
			if r.ApplianceID != "app" || r.DeviceID != "dev" || r.Point != "p" || r.Seq != 42 || r.ApplianceTime != at.UnixNano() || r.SourceTime != 0 {
				t.Fatalf("identity fields wrong: %+v", r)
			}
			if _, err := r.Encode(); err != nil {
				t.Fatalf("normalised reading does not encode: %v", err)
			}
		})
	}
	t.Run("timestamps", func(t *testing.T) {
		r := Reading("app", "dev", protocols.Sample{Point: "p", Value: 1.0, Unit: "bar", SourceTime: src, Received: recv}, 1, at)
		if r.SourceTime != src.UnixNano() || r.ApplianceTime != recv.UnixNano() || r.Unit != "bar" {
			t.Fatalf("pushed sample: source %d appliance %d unit %q", r.SourceTime, r.ApplianceTime, r.Unit)
		}
	})
}
