package coap

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/coap/coapsim"
)

func TestConfirmableAndNonConfirmable(t *testing.T) {
	for _, tt := range []struct {
		name        string
		confirmable *bool
		wantNON     bool
	}{
		{name: "default CON", confirmable: nil, wantNON: false},
		{name: "NON", confirmable: ptr(false), wantNON: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, "127.0.0.1:0")
			src := newSourceCfg(t, Config{URL: sim.URL(), Confirmable: tt.confirmable, Points: []Point{
				{Name: "humidity", Path: coapsim.PathHumidity},
				{Name: "door", Path: coapsim.PathDoor, Observe: ptr(true)},
			}})
			got := poll(t, src)
			if got["humidity"].Value != 45.0 || got["door"].Value != false {
				t.Fatalf("humidity %+v door %+v, want 45.0 and false", got["humidity"], got["door"])
			}
			for _, path := range []string{coapsim.PathHumidity, coapsim.PathDoor} { // GET and registration
				non := sim.NonConfirmable(path)
				if n := sim.Requests(path); n != 1 || (non == 1) != tt.wantNON {
					t.Errorf("%s: %d requests, %d NON; want 1 request, NON=%v", path, n, non, tt.wantNON)
				}
			}
			sim.Tick()
			if got := collect(t, src, 2*time.Second, countOf("door", 1)); !slices.Contains(valuesOf(got, "door"), any(true)) {
				t.Errorf("notification after a %s registration missing", tt.name)
			}
		})
	}
}

// TestBlockwise reads a resource of about 3 KiB: go-coap must fetch it in
// Block2 blocks of 1024 bytes and reassemble it, or the JSON is truncated
// and "total", at its end, is missing.
func TestBlockwise(t *testing.T) {
	_, payload, _ := coapsim.Payload(coapsim.PathLarge, 2)
	if len(payload) < 2048 {
		t.Fatalf("large resource is %d bytes, want more than two blocks", len(payload))
	}
	var total int64
	for i := range coapsim.LargeItems {
		total += int64(1000 + 2 + i)
	}
	requireBlock2(t, coapsim.PathLarge)
	for _, confirmable := range []bool{true, false} {
		sim := startSim(t, "127.0.0.1:0")
		sim.Tick()
		sim.Tick()
		src := newSourceCfg(t, Config{URL: sim.URL(), Confirmable: ptr(confirmable), Points: []Point{
			{Name: "total", Path: coapsim.PathLarge, Format: FormatJSON, Field: "total"},
			{Name: "last", Path: coapsim.PathLarge, Format: FormatJSON, Field: "items.399"},
		}})
		got := poll(t, src)
		if got["total"].Value != total || got["last"].Value != int64(1000+2+399) {
			t.Errorf("confirmable=%v: total %+v last %+v, want %d and %d", confirmable, got["total"], got["last"], total, 1000+2+399)
		}
	}
}

// requireBlock2 proves the simulator serves path in blocks: a client
// without blockwise support gets only a first block of 1024 bytes with the
// More flag set.
func requireBlock2(t *testing.T, path string) {
	t.Helper()
	sim := startSim(t, "127.0.0.1:0")
	co, err := udp.Dial(sim.Addr(), options.WithBlockwise(false, blockwise.SZX1024, time.Second), quietErrors())
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := co.Get(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer co.ReleaseMessage(resp)
	body, err := resp.ReadBody()
	if err != nil {
		t.Fatal(err)
	}
	block, err := resp.Options().GetUint32(message.Block2)
	const more, szx1024 = 1 << 3, 6
	if err != nil || len(body) != 1024 || block != more|szx1024 {
		t.Fatalf("without blockwise: %d bytes, Block2 %d (%v); want the first 1024-byte block of several", len(body), block, err)
	}
}

func TestAllFormatsAgainstSimulator(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	temp := coapsim.SenMLBaseName + "temp"
	points := []Point{
		{Name: "humidity_text", Path: coapsim.PathHumidity},
		{Name: "humidity_string", Path: coapsim.PathHumidity, Format: FormatString},
		{Name: "co2_json", Path: coapsim.PathEnv, Format: FormatJSON, Field: "co2"},
		{Name: "temp_cbor", Path: coapsim.PathCBOR, Format: FormatCBOR, Field: "temperature", Unit: "degC"},
		{Name: "counter_cbor", Path: coapsim.PathCBOR, Format: FormatCBOR, Field: "counter"},
		{Name: "level_cbor", Path: coapsim.PathCBOR, Format: FormatCBOR, Field: "nested.levels.2"},
		{Name: "seven_cbor", Path: coapsim.PathCBOR, Format: FormatCBOR, Field: "7"},
		{Name: "temp_senml_json", Path: coapsim.PathSenMLJSON, Format: FormatSenML, SenMLName: temp},
		{Name: "temp_senml_cbor", Path: coapsim.PathSenMLCBOR, Format: FormatSenML, SenMLName: temp},
		{Name: "humidity_senml", Path: coapsim.PathSenMLCBOR, Format: FormatSenML, SenMLName: coapsim.SenMLBaseName + "humidity"},
		{Name: "door_senml", Path: coapsim.PathSenMLJSON, Format: FormatSenML, SenMLName: coapsim.SenMLBaseName + "door"},
		{Name: "label_senml", Path: coapsim.PathSenMLCBOR, Format: FormatSenML, SenMLName: coapsim.SenMLBaseName + "label"},
		{Name: "blob_senml", Path: coapsim.PathSenMLCBOR, Format: FormatSenML, SenMLName: coapsim.SenMLBaseName + "blob"},
		{Name: "blob_senml_hex", Path: coapsim.PathSenMLJSON, Format: FormatSenML, SenMLName: coapsim.SenMLBaseName + "blob", DataEncoding: EncodingHex},
	}
	src := newSource(t, sim.URL(), points...)
	sim.Tick() // step 1
	samples := pollList(t, src)

	want := map[string][]any{
		"humidity_text":   {45.4},
		"humidity_string": {"45.4"},
		"co2_json":        {int64(420)},
		"temp_cbor":       {23.0},
		"counter_cbor":    {int64(1)},
		"level_cbor":      {int64(3)},
		"seven_cbor":      {"seven"},
		"temp_senml_json": {21.0, 21.25, 21.5},
		"temp_senml_cbor": {21.0, 21.25, 21.5},
		"humidity_senml":  {45.5},
		"door_senml":      {true},
		"label_senml":     {"line-1"},
		"blob_senml":      {"3q2-7w"},
		"blob_senml_hex":  {"deadbeef"},
	}
	for _, p := range points {
		if got := valuesOf(samples, p.Name); !slices.Equal(got, want[p.Name]) {
			t.Errorf("%s = %v, want %v", p.Name, got, want[p.Name])
		}
	}
	bt := time.Unix(coapsim.SenMLBaseTime+1, 0)
	var temps []protocols.Sample
	for _, s := range samples {
		switch s.Point {
		case "temp_senml_json", "temp_senml_cbor":
			temps = append(temps, s)
		case "temp_cbor":
			if s.Unit != "degC" {
				t.Errorf("temp_cbor unit %q", s.Unit)
			}
		case "humidity_senml":
			if s.Unit != "%RH" {
				t.Errorf("humidity_senml unit %q, want the record's %%RH", s.Unit)
			}
		}
		if s.Quality != protocols.Good {
			t.Errorf("%s: %v %q", s.Point, s.Quality, s.Reason)
		}
	}
	for i, s := range temps {
		if want := bt.Add(time.Duration(i%3-2) * time.Second); !s.SourceTime.Equal(want) || s.Unit != "Cel" {
			t.Errorf("%s #%d: source time %v unit %q, want %v Cel", s.Point, i%3, s.SourceTime, s.Unit, want)
		}
	}
}

func TestStatsAndReconnect(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	addr := sim.Addr()
	src := newSource(t, sim.URL(), demoPoints()...)
	if st := src.Stats(); st != (protocols.Stats{}) {
		t.Fatalf("stats before any poll: %+v", st)
	}
	pollList(t, src)
	pollList(t, src)
	if st := src.Stats(); !st.Connected || st.RequestsLastPoll != 3 || st.RequestsTotal != 6 || st.Reconnects != 0 {
		t.Fatalf("stats after two polls: %+v, want connected, 3 requests per poll, 6 in all", st)
	}

	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Poll(context.Background()); err == nil {
		t.Fatal("Poll succeeded with the device gone")
	}
	if st := src.Stats(); st.Connected || st.RequestsTotal != 9 {
		t.Fatalf("stats after a failed poll: %+v, want disconnected, 9 requests", st)
	}
	startSim(t, addr)
	pollList(t, src)
	if st := src.Stats(); !st.Connected || st.Reconnects != 1 {
		t.Fatalf("stats after the device came back: %+v, want connected, 1 reconnect", st)
	}
}
