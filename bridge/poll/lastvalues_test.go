package poll

import (
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/protocols"
)

// sample is a point's value for building samples.
type sample struct {
	point string
	value any
}

func samples(ps ...sample) []protocols.Sample {
	out := make([]protocols.Sample, len(ps))
	for i, p := range ps {
		out[i] = protocols.Sample{Point: p.point, Value: p.value, Quality: protocols.Good}
	}
	return out
}

func TestLastValues(t *testing.T) {
	lv := NewLastValues()
	c := pipelinetest.New(t)
	st, in := c.Store, c.Ingester
	sink := lv.Sink(in)
	at := time.Unix(1_700_000_000, 0)
	first, _, err := sink.Ingest("boiler-1", samples(sample{"temperature", 20.5}, sample{"pressure", int64(7)}), at)
	if err != nil {
		t.Fatal(err)
	}
	later := samples(sample{"temperature", 21.5})
	later[0].Received = at.Add(2 * time.Second)
	if _, _, err := sink.Ingest("boiler-1", later, at.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	got := lv.Values("boiler-1")
	if len(got) != 2 || got[0].Point != "pressure" || got[0].Value != int64(7) || got[0].Seq != first+1 ||
		got[1].Point != "temperature" || got[1].Value != 21.5 || !got[1].Time.Equal(at.Add(2*time.Second)) || got[1].Seq != first+2 {
		t.Fatalf("last values: %+v", got)
	}
	// An older pushed value never replaces a newer one.
	lv.Record("boiler-1", 99, samples(sample{"temperature", 1.0}), at)
	if v := lv.Values("boiler-1")[1]; v.Value != 21.5 {
		t.Fatalf("older value replaced the latest: %+v", v)
	}
	// A failed poll records nothing.
	if _, _, err := sink.Ingest("boiler-1", nil, at); err == nil {
		t.Fatal("empty poll accepted")
	}
	lv.Forget("boiler-1")
	if v := lv.Values("boiler-1"); len(v) != 0 {
		t.Fatalf("forgotten device: %+v", v)
	}
	if _, err := st.Reading(first + 2); err != nil {
		t.Fatalf("the wrapped sink did not store: %v", err)
	}
	if _, err := st.Reading(first + 3); !store.IsNotFound(err) {
		t.Fatalf("reading %d: %v", first+3, err)
	}
}

// A status record is stored but listed among no device's values.
func TestLastValuesSkipStatus(t *testing.T) {
	lv := NewLastValues()
	lv.Record("d", 1, []protocols.Sample{{Point: "a", Value: 1.0}, devstatus.Sample(devstatus.PollFailing, "refused")}, time.Unix(1, 0))
	if got := lv.Values("d"); len(got) != 1 || got[0].Point != "a" {
		t.Fatalf("values: %+v", got)
	}
}
