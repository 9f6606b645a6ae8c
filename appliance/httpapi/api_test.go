package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/protocols"
)

func TestHealthz(t *testing.T) {
	// Alive needs nothing, not even a store.
	w := httptestGet(New(Options{}), "/healthz")
	if w.Code != http.StatusOK || w.Body.String() != "ok\n" {
		t.Fatalf("healthz: %d %q", w.Code, w.Body)
	}
}

func TestReadyz(t *testing.T) {
	c := newChain(t, 2)
	devs := &fakeDevices{list: twoDevices(1)}
	cases := []struct {
		name   string
		opts   Options
		code   int
		reason string
	}{
		{"ready", Options{Store: c.Store, Devices: devs}, http.StatusOK, ""},
		{"ready with uplinks known", Options{Store: c.Store, Devices: devs, Ready: func(context.Context) error { return nil }}, http.StatusOK, ""},
		{"no store", Options{Devices: devs}, http.StatusServiceUnavailable, "store is not open"},
		{"no devices source", Options{Store: c.Store}, http.StatusServiceUnavailable, "no devices configured"},
		{"empty devices", Options{Store: c.Store, Devices: &fakeDevices{}}, http.StatusServiceUnavailable, "no devices configured"},
		{"uplinks unknown", Options{Store: c.Store, Devices: devs, Ready: func(context.Context) error {
			return errors.New("ledger registration not checked yet")
		}}, http.StatusServiceUnavailable, "ledger registration not checked yet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{srv: New(tc.opts)}
			var got readyJSON
			e.getJSON(t, "/readyz", tc.code, &got)
			if got.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", got.Reason, tc.reason)
			}
			want := "ready"
			if tc.code != http.StatusOK {
				want = "not ready"
			}
			if got.Status != want {
				t.Fatalf("status %q, want %q", got.Status, want)
			}
		})
	}
}

func TestDevices(t *testing.T) {
	e := newEnv(t)
	var got struct{ Devices []deviceJSON }
	e.getJSON(t, "/api/devices", http.StatusOK, &got)
	if len(got.Devices) != 2 || got.Devices[0].ID != "boiler-1" || got.Devices[1].ID != "press-2" {
		t.Fatalf("devices not sorted by id: %+v", got.Devices)
	}
	b, p := got.Devices[0], got.Devices[1]
	if b.State != stateOK || b.Protocol != "modbus" || b.IntervalSeconds != 1 || b.Health.Polls != 42 ||
		b.Health.Readings != 84 || b.Health.LastGood == nil || !b.Health.LastGood.Equal(lastGood) || b.Health.LastDurationSeconds != 0.025 {
		t.Fatalf("boiler-1: %+v", b)
	}
	if b.Source == nil || !b.Source.Connected || b.Source.Reconnects != 2 || b.Source.RequestsLastPoll != 3 || b.Source.RequestsTotal != 126 {
		t.Fatalf("boiler-1 source: %+v", b.Source)
	}
	if len(b.Points) != 2 || b.Points[1].Point != "temperature" || b.Points[1].Value != 21.5 || b.Points[1].Unit != "degC" ||
		b.Points[1].Quality != "good" || b.Points[0].Value != 7.0 || b.Points[1].Seq != 84 {
		t.Fatalf("boiler-1 points: %+v", b.Points)
	}
	if p.State != stateFailing || p.Health.ConsecutiveErrors != 3 || !strings.Contains(p.Health.LastError, "refused") ||
		p.Source != nil || len(p.Points) != 0 {
		t.Fatalf("press-2: %+v", p)
	}
	e.dev.set([]DeviceStatus{{ID: "new", Protocol: "coap", Interval: time.Second}})
	e.getJSON(t, "/api/devices", http.StatusOK, &got)
	if len(got.Devices) != 1 || got.Devices[0].State != stateWaiting {
		t.Fatalf("a device that has not polled yet: %+v", got.Devices)
	}
	// Values JSON cannot carry, or of a type no source should return, show
	// as null instead of breaking the response.
	e.dev.set([]DeviceStatus{{ID: "odd", Last: []poll.PointValue{
		{Point: "nan", Value: math.NaN(), Quality: protocols.Bad},
		{Point: "inf", Value: math.Inf(1), Quality: protocols.Bad},
		{Point: "int", Value: 3},
		{Point: "s", Value: "on"},
	}}})
	e.getJSON(t, "/api/devices", http.StatusOK, &got)
	if pts := got.Devices[0].Points; len(pts) != 4 || pts[0].Value != nil || pts[1].Value != nil || pts[2].Value != nil ||
		pts[3].Value != "on" || pts[0].Quality != "bad" {
		t.Fatalf("odd values: %+v", pts)
	}
}

type readingsResp struct {
	Device, Point string
	Readings      []reading.JSON
	Truncated     bool
}

func (c *chain) pointReadings(device, point string) []pipelinetest.Reading {
	var out []pipelinetest.Reading
	for _, r := range c.Readings {
		if r.Device == device && r.Point == point {
			out = append(out, r)
		}
	}
	return out
}

func checkReadings(t *testing.T, got []reading.JSON, want []pipelinetest.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d readings, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Seq != w.Seq || g.Device != w.Device || g.Point != w.Point || !g.Time.Equal(w.At) || g.Type != "float" ||
			g.Unit != "degC" || g.Quality != "good" || g.ApplianceID != appID {
			t.Fatalf("reading %d: %+v, want %+v", i, g, w)
		}
		if v, err := g.Value.(json.Number).Float64(); err != nil || v != w.Value {
			t.Fatalf("reading %d value %v, want %v", i, g.Value, w.Value)
		}
	}
}

func TestReadings(t *testing.T) {
	e := newEnv(t)
	all := e.c.pointReadings("boiler-1", "p0")
	if len(all) < 4 {
		t.Fatalf("fixture has %d boiler-1/p0 readings", len(all))
	}
	rfc := func(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339Nano)) }
	cases := []struct {
		name      string
		query     string
		want      []pipelinetest.Reading
		truncated bool
	}{
		{"latest", "device=boiler-1&point=p0", all[len(all)-1:], false},
		{"latest at or before to", "device=boiler-1&point=p0&to=" + rfc(all[1].At.Add(time.Millisecond)), all[1:2], false},
		{"latest before the first", "device=boiler-1&point=p0&to=" + rfc(all[0].At.Add(-time.Second)), nil, false},
		{"range", "device=boiler-1&point=p0&from=" + rfc(all[1].At) + "&to=" + rfc(all[2].At), all[1:3], false},
		{"range from only", "device=boiler-1&point=p0&from=" + rfc(all[1].At), all[1:], false},
		{"range with offset", "device=boiler-1&point=p0&from=" + url.QueryEscape(all[0].At.Add(-time.Hour).In(time.FixedZone("x", 3600)).Format(time.RFC3339)), all, false},
		{"range limited", "device=boiler-1&point=p0&from=" + rfc(all[0].At) + "&limit=2", all[:2], true},
		{"range exactly the limit", "device=boiler-1&point=p0&from=" + rfc(all[0].At) + fmt.Sprintf("&limit=%d", len(all)), all, false},
		{"other point", "device=press-2&point=p1", e.c.pointReadings("press-2", "p1")[len(e.c.pointReadings("press-2", "p1"))-1:], false},
		{"unknown device", "device=nope&point=p0", nil, false},
		{"unknown device range", "device=nope&point=p0&from=" + rfc(all[0].At), nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got readingsResp
			e.getJSON(t, "/api/readings?"+tc.query, http.StatusOK, &got)
			checkReadings(t, got.Readings, tc.want)
			if got.Truncated != tc.truncated || got.Readings == nil {
				t.Fatalf("truncated %v (want %v), readings %v", got.Truncated, tc.truncated, got.Readings)
			}
		})
	}
}

func TestBadParameters(t *testing.T) {
	e := newEnv(t)
	rec := e.c.Block(t, 1)
	cases := []struct{ target, param string }{
		{"/api/readings?point=p0", "device"},
		{"/api/readings?device=boiler-1", "point"},
		{"/api/readings?device=boiler-1&point=p0&from=yesterday", "from"},
		{"/api/readings?device=boiler-1&point=p0&from=2024-05-01", "from"},
		{"/api/readings?device=boiler-1&point=p0&to=1714564800", "to"},
		{"/api/readings?device=boiler-1&point=p0&from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", "to"},
		{"/api/readings?device=boiler-1&point=p0&from=9999-01-01T00:00:00Z", "from"},
		{"/api/readings?device=boiler-1&point=p0&limit=0", "limit"},
		{"/api/readings?device=boiler-1&point=p0&limit=ten", "limit"},
		{"/api/readings?device=boiler-1&point=p0&limit=10001", "limit"},
		{"/api/readings?device=boiler-1&point=p0&form=2024-05-01T00:00:00Z", "form"},
		{"/api/readings?device=boiler-1&device=press-2&point=p0", "device"},
		{"/api/readings?device=a%00b&point=p0", "device"},
		{"/api/blocks?from_height=-1", "from_height"},
		{"/api/blocks?from_height=x", "from_height"},
		{"/api/blocks?limit=1001", "limit"},
		{"/api/blocks?height=1", "height"},
		{"/api/blocks/xyz", "id"},
		{"/api/blocks/" + strings.Repeat("g", 64), "id"},
		{"/api/blocks/" + rec.BlockID[:40], "id"},
		{"/api/blocks/1?verbose=1", "verbose"},
		{"/api/blocks/1/proof", "seq"},
		{"/api/blocks/1/proof?seq=", "seq"},
		{"/api/blocks/1/proof?seq=0", "seq"},
		{"/api/blocks/1/proof?seq=six", "seq"},
		{"/api/blocks/1/proof?seq=6&index=0", "index"},
		{"/api/blocks/abc/proof?seq=6", "id"},
		{"/events?x=1", "x"},
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			var got apiError
			e.getJSON(t, tc.target, http.StatusBadRequest, &got)
			if got.Parameter != tc.param || !strings.Contains(got.Error, fmt.Sprintf("%q", tc.param)) {
				t.Fatalf("error %+v does not name parameter %q", got, tc.param)
			}
		})
	}
}

func TestBlocks(t *testing.T) {
	e := newEnv(t)
	var got blocksJSON
	e.getJSON(t, "/api/blocks", http.StatusOK, &got)
	if len(got.Blocks) != 6 || got.NextFromHeight != nil {
		t.Fatalf("all blocks: %d, next %v", len(got.Blocks), got.NextFromHeight)
	}
	wantStates := []string{"anchored", "anchored", "anchored", "anchored", "uploaded", "sealed"}
	for i, b := range got.Blocks {
		rec := e.c.Block(t, uint64(i))
		if b.Height != uint64(i) || b.ID != rec.BlockID || b.State != wantStates[i] || b.FirstSeq != rec.FirstSeq ||
			b.LastSeq != rec.LastSeq || b.Count != rec.LastSeq-rec.FirstSeq+1 || b.ObjectHash != rec.ObjectHash || b.Location != rec.Location {
			t.Fatalf("block %d: %+v, record %+v", i, b, rec)
		}
		if (b.Location == "") != (i == 5) {
			t.Fatalf("block %d in state %s has location %q", i, b.State, b.Location)
		}
		if i > 0 && b.PrevID != got.Blocks[i-1].ID {
			t.Fatalf("block %d links to %s, not %s", i, b.PrevID, got.Blocks[i-1].ID)
		}
		// Time range and devices agree with what was ingested.
		var devs []string
		first, last := time.Time{}, time.Time{}
		for _, r := range e.c.Readings {
			if r.Seq >= b.FirstSeq && r.Seq <= b.LastSeq {
				if first.IsZero() || r.At.Before(first) {
					first = r.At
				}
				if r.At.After(last) {
					last = r.At
				}
				if !slices.Contains(devs, r.Device) {
					devs = append(devs, r.Device)
				}
			}
		}
		slices.Sort(devs)
		if !b.FirstTime.Equal(first) || !b.LastTime.Equal(last) || !slices.Equal(b.Devices, devs) {
			t.Fatalf("block %d: times %s..%s devices %v; want %s..%s %v", i, b.FirstTime, b.LastTime, b.Devices, first, last, devs)
		}
	}

	e.getJSON(t, "/api/blocks?from_height=1&limit=2", http.StatusOK, &got)
	if len(got.Blocks) != 2 || got.Blocks[0].Height != 1 || got.NextFromHeight == nil || *got.NextFromHeight != 3 {
		t.Fatalf("page: %+v next %v", got.Blocks, got.NextFromHeight)
	}
	e.getJSON(t, "/api/blocks?limit=2", http.StatusOK, &got)
	if len(got.Blocks) != 2 || got.Blocks[0].Height != 4 || got.Blocks[1].Height != 5 || got.NextFromHeight != nil {
		t.Fatalf("latest 2: %+v next %v", got.Blocks, got.NextFromHeight)
	}
	e.getJSON(t, "/api/blocks?from_height=99", http.StatusOK, &got)
	if len(got.Blocks) != 0 || got.Blocks == nil {
		t.Fatalf("beyond the last: %+v", got.Blocks)
	}

	empty := &env{srv: New(Options{Store: newChain(t).Store})}
	empty.getJSON(t, "/api/blocks", http.StatusOK, &got)
	if len(got.Blocks) != 0 {
		t.Fatalf("blocks of an empty store: %+v", got.Blocks)
	}
}

// countingCredentials records ledger lookups.
type countingCredentials struct {
	Credentials
	calls int
}

func (c *countingCredentials) Credential(ctx context.Context, id string) (*format.Credential, error) {
	c.calls++
	return c.Credentials.Credential(ctx, id)
}

func TestBlockLookup(t *testing.T) {
	for _, withLedger := range []bool{false, true} {
		t.Run(fmt.Sprintf("ledger=%v", withLedger), func(t *testing.T) {
			creds := &countingCredentials{}
			e := newEnv(t, func(o *Options) {
				if withLedger {
					o.Credentials = creds // backed by the chain's ledger below
				}
			})
			creds.Credentials = e.c.Ledger
			for h := uint64(0); h < 6; h++ {
				rec := e.c.Block(t, h)
				for _, id := range []string{fmt.Sprint(h), rec.BlockID} {
					var got blockJSON
					e.getJSON(t, "/api/blocks/"+id, http.StatusOK, &got)
					if got.Height != h || got.ID != rec.BlockID || got.State != rec.State.String() {
						t.Fatalf("block %s: %+v", id, got)
					}
				}
			}
			// Anchored blocks (0..3) are found by id through the ledger
			// when there is one; pending ones (4, 5) through the outbox.
			if withLedger && creds.calls != 4 {
				t.Fatalf("%d ledger lookups, want 4", creds.calls)
			}
			for _, id := range []string{"6", strings.Repeat("ab", 32)} {
				var got apiError
				e.getJSON(t, "/api/blocks/"+id, http.StatusNotFound, &got)
				if !strings.Contains(got.Error, "not found") {
					t.Fatalf("unknown block %s: %+v", id, got)
				}
			}
		})
	}
}

func TestStoreMissing(t *testing.T) {
	e := &env{srv: New(Options{Devices: &fakeDevices{list: twoDevices(1)}})}
	for _, target := range []string{"/api/readings?device=a&point=b", "/api/blocks", "/api/blocks/1", "/api/blocks/1/proof?seq=1"} {
		var got apiError
		e.getJSON(t, target, http.StatusServiceUnavailable, &got)
		if !strings.Contains(got.Error, "store is not open") {
			t.Fatalf("%s: %+v", target, got)
		}
	}
	var st statusJSON
	e.getJSON(t, "/api/status", http.StatusOK, &st)
	if len(st.Devices) != 2 || st.Pipeline != nil || st.Error == "" {
		t.Fatalf("status without a store: %+v", st)
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	var st statusJSON
	e.getJSON(t, "/api/status", http.StatusOK, &st)
	p := st.Pipeline
	if st.Appliance != appID || len(st.Devices) != 2 || p == nil || st.Error != "" {
		t.Fatalf("status: %+v", st)
	}
	last := e.c.Block(t, 3)
	oldest := e.c.Block(t, 4)
	if p.ReadingsStored != 23 || p.NextSeq != 24 || p.BlocksSealed != 6 || p.BlocksUploaded != 5 || p.BlocksAnchored != 4 ||
		p.OutboxDepth != 2 || p.StorageErrors != 2 || p.LedgerErrors != 5 || p.LastAnchorError != "anchor block 4: signing key revoked" {
		t.Fatalf("pipeline: %+v", p)
	}
	if p.OutboxOldestSealedAt == nil || !p.OutboxOldestSealedAt.Equal(time.Unix(0, oldest.SealedAt)) || p.OutboxOldestAgeSeconds <= 0 {
		t.Fatalf("outbox age: %+v", p)
	}
	if p.LastAnchored == nil || p.LastAnchored.Height != 3 || p.LastAnchored.ID != last.BlockID || p.LastAnchored.State != "anchored" {
		t.Fatalf("last anchored: %+v", p.LastAnchored)
	}

	// Draining the outbox moves the totals and the last anchored block.
	e.c.Drain(t)
	e.getJSON(t, "/api/status", http.StatusOK, &st)
	p = st.Pipeline
	if p.BlocksAnchored != 6 || p.BlocksUploaded != 6 || p.OutboxDepth != 0 || p.OutboxOldestSealedAt != nil ||
		p.OutboxOldestAgeSeconds != 0 || p.LastAnchored == nil || p.LastAnchored.Height != 5 {
		t.Fatalf("pipeline after draining: %+v", p)
	}

	// A store with nothing sealed has no last anchored block.
	fresh := newChain(t)
	fresh.Ingest(t, 2)
	e2 := &env{srv: New(Options{Store: fresh.Store})}
	e2.getJSON(t, "/api/status", http.StatusOK, &st)
	if p := st.Pipeline; p == nil || p.ReadingsStored != 2 || p.BlocksSealed != 0 || p.LastAnchored != nil {
		t.Fatalf("pipeline with nothing sealed: %+v", p)
	}
	// Sealed but none anchored: the lowest pending block is 0.
	fresh.Seal(t)
	e2.getJSON(t, "/api/status", http.StatusOK, &st)
	if p := st.Pipeline; p.BlocksSealed != 1 || p.BlocksAnchored != 0 || p.OutboxDepth != 1 || p.LastAnchored != nil {
		t.Fatalf("pipeline with nothing anchored: %+v", p)
	}
}

// While the ledger is down the upload lane runs ahead of anchoring, so any
// number of pending blocks can be uploaded: the uploaded total counts
// every one of them (a prefix of the outbox, in height order).
func TestStatusCountsUploadsAheadOfAnchoring(t *testing.T) {
	c := newChain(t, 3, 2)
	c.Ingest(t, 5, 5, 5, 5)
	c.Seal(t)
	pending, err := c.Store.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) < 4 {
		t.Fatalf("%d pending blocks, want at least 4", len(pending))
	}
	e := &env{c: c, dev: &fakeDevices{}}
	e.srv = New(Options{ApplianceID: appID, Store: c.Store, Devices: e.dev, OwnerKey: c.Owner})
	var st statusJSON
	e.getJSON(t, "/api/status", http.StatusOK, &st)
	anchored := st.Pipeline.BlocksAnchored
	for k := 0; k <= len(pending); k++ {
		if k > 0 {
			rec := c.Block(t, pending[k-1])
			rec.State, rec.Location = store.Uploaded, "fs:"+rec.ObjectHash
			if err := c.Store.UpdateBlock(rec); err != nil {
				t.Fatal(err)
			}
		}
		e.getJSON(t, "/api/status", http.StatusOK, &st)
		if p := st.Pipeline; p.BlocksAnchored != anchored || p.BlocksUploaded != anchored+uint64(k) || p.OutboxDepth != len(pending) {
			t.Fatalf("%d of %d pending blocks uploaded: anchored %d uploaded %d depth %d", k, len(pending), p.BlocksAnchored, p.BlocksUploaded, p.OutboxDepth)
		}
	}
}
