package opcua

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/protocols"
)

func TestVariantValue(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name    string
		in      *ua.Variant
		want    any
		wantErr string // substring; empty means no error
	}{
		{"nil variant", nil, nil, ""},
		{"null variant", &ua.Variant{}, nil, ""},
		{"Boolean", ua.MustVariant(true), true, ""},
		{"SByte", ua.MustVariant(int8(-8)), int64(-8), ""},
		{"Int16", ua.MustVariant(int16(-16)), int64(-16), ""},
		{"Int32", ua.MustVariant(int32(-32)), int64(-32), ""},
		{"Int64", ua.MustVariant(int64(math.MinInt64)), int64(math.MinInt64), ""},
		{"Byte", ua.MustVariant(uint8(255)), int64(255), ""},
		{"UInt16", ua.MustVariant(uint16(65535)), int64(65535), ""},
		{"UInt32", ua.MustVariant(uint32(math.MaxUint32)), int64(math.MaxUint32), ""},
		{"UInt64", ua.MustVariant(uint64(math.MaxInt64)), int64(math.MaxInt64), ""},
		{"UInt64 overflow", ua.MustVariant(uint64(math.MaxInt64) + 1), nil, "overflows int64"},
		{"Float", ua.MustVariant(float32(85.3)), 85.3, ""},
		{"Double", ua.MustVariant(2.5), 2.5, ""},
		{"Double NaN", ua.MustVariant(math.NaN()), nil, "non-finite"},
		{"Float Inf", ua.MustVariant(float32(math.Inf(1))), nil, "non-finite"},
		{"String", ua.MustVariant("auto"), "auto", ""},
		{"LocalizedText", ua.MustVariant(ua.NewLocalizedTextWithLocale("Betrieb", "de")), "Betrieb", ""},
		{"ByteString", ua.MustVariant([]byte{0xde, 0xad, 0xbe, 0xef}), "deadbeef", ""},
		{"DateTime", ua.MustVariant(ts), "2024-05-06T05:08:09.123Z", ""},
		{"Guid", ua.MustVariant(ua.NewGUID("72962B91-FA75-4AE6-8D28-B404DC7DAF63")), nil, "unsupported variant type GUID"},
		{"NodeId", ua.MustVariant(ua.NewNumericNodeID(1, 2)), nil, "unsupported variant type NodeID"},
		{"StatusCode", ua.MustVariant(ua.StatusBad), nil, "unsupported variant type StatusCode"},
		{"QualifiedName", ua.MustVariant(&ua.QualifiedName{Name: "x"}), nil, "unsupported variant type QualifiedName"},
		{"XmlElement", ua.MustVariant(ua.XMLElement("<a/>")), nil, "unsupported variant type XMLElement"},
		{"array", ua.MustVariant([]int32{1, 2}), nil, "unsupported variant type Int32 array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := variantValue(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("value = %#v, want nil with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("value = %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestStatusQuality(t *testing.T) {
	tests := []struct {
		code   ua.StatusCode
		want   protocols.Quality
		reason string // substring of the reason; empty means the reason must be empty
	}{
		{ua.StatusOK, protocols.Good, ""},
		{ua.StatusGoodLocalOverride, protocols.Good, ""},
		{ua.StatusUncertain, protocols.Uncertain, "Uncertain (0x40000000)"},
		{ua.StatusUncertainLastUsableValue, protocols.Uncertain, "UncertainLastUsableValue (0x40900000)"},
		{ua.StatusUncertainSensorNotAccurate | 0x0400, protocols.Uncertain, "UncertainSensorNotAccurate (0x40930400)"}, // info bits set
		{ua.StatusBad, protocols.Bad, "Bad (0x80000000)"},
		{ua.StatusBadNodeIDUnknown, protocols.Bad, "BadNodeIDUnknown (0x80340000)"},
		{ua.StatusBadSensorFailure, protocols.Bad, "BadSensorFailure (0x808C0000)"},
		{0xC0000000, protocols.Bad, "0xC0000000"},       // reserved severity 11 counts as Bad
		{0x7FFF0000, protocols.Uncertain, "0x7FFF0000"}, // unknown code keeps its hex
		{0x00FF0000, protocols.Good, ""},                // unknown Good code is still Good
	}
	for _, tt := range tests {
		t.Run(statusName(tt.code), func(t *testing.T) {
			q, reason := statusQuality(tt.code)
			if q != tt.want {
				t.Errorf("quality = %v, want %v", q, tt.want)
			}
			switch {
			case tt.reason == "" && reason != "":
				t.Errorf("reason = %q, want empty", reason)
			case !strings.Contains(reason, tt.reason):
				t.Errorf("reason = %q, want it to contain %q", reason, tt.reason)
			}
		})
	}
}

func TestToSample(t *testing.T) {
	p := Point{Name: "temp", NodeID: "ns=1;s=T", Unit: "°C"}
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		dv      *ua.DataValue
		want    protocols.Sample
		wantWhy string // substring of Reason
	}{
		{"good", &ua.DataValue{Value: ua.MustVariant(85.5), SourceTimestamp: ts},
			protocols.Sample{Value: 85.5, Quality: protocols.Good, SourceTime: ts}, ""},
		{"good without source time", &ua.DataValue{Value: ua.MustVariant(int32(3))},
			protocols.Sample{Value: int64(3), Quality: protocols.Good}, ""},
		{"uncertain keeps value", &ua.DataValue{Value: ua.MustVariant(85.5), Status: ua.StatusUncertainLastUsableValue},
			protocols.Sample{Value: 85.5, Quality: protocols.Uncertain}, "UncertainLastUsableValue"},
		{"bad keeps a present value", &ua.DataValue{Value: ua.MustVariant(85.5), Status: ua.StatusBadSensorFailure},
			protocols.Sample{Value: 85.5, Quality: protocols.Bad}, "BadSensorFailure"},
		{"bad without value", &ua.DataValue{Status: ua.StatusBadNodeIDUnknown},
			protocols.Sample{Quality: protocols.Bad}, "BadNodeIDUnknown"},
		{"good without value", &ua.DataValue{},
			protocols.Sample{Quality: protocols.Bad}, "no value"},
		{"uncertain without value", &ua.DataValue{Status: ua.StatusUncertain},
			protocols.Sample{Quality: protocols.Bad}, "Uncertain (0x40000000); no value"},
		{"unsupported type", &ua.DataValue{Value: ua.MustVariant(ua.NewNumericNodeID(0, 1))},
			protocols.Sample{Quality: protocols.Bad}, "unsupported variant type NodeID"},
		{"nil result", nil, protocols.Sample{Quality: protocols.Bad}, "ns=1;s=T"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := toSample(p, tt.dv)
			if got.Point != p.Name || got.Unit != p.Unit {
				t.Errorf("point/unit = %q/%q, want %q/%q", got.Point, got.Unit, p.Name, p.Unit)
			}
			if got.Value != tt.want.Value || got.Quality != tt.want.Quality || !got.SourceTime.Equal(tt.want.SourceTime) {
				t.Errorf("got value=%#v quality=%v time=%v, want value=%#v quality=%v time=%v",
					got.Value, got.Quality, got.SourceTime, tt.want.Value, tt.want.Quality, tt.want.SourceTime)
			}
			if (tt.wantWhy == "") != (got.Reason == "") || !strings.Contains(got.Reason, tt.wantWhy) {
				t.Errorf("reason = %q, want it to contain %q", got.Reason, tt.wantWhy)
			}
		})
	}
}
