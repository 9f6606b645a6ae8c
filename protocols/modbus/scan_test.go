package modbus_test

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols/modbus"
	"github.com/wotchain/wotchain/protocols/modbus/modbussim"
)

// TestScan scans a sparse unit, a silent unit and an absent table through
// the RTU-over-TCP gateway and checks what is reported and how many
// requests the bisection of refused chunks costs.
func TestScan(t *testing.T) {
	tb := startTestbed(t, "rtutcp")
	u := tb.sim.Unit(1)
	u.SetHolding(3, 0x4142, 0x43FF, 7) // 3-5
	u.SetHolding(10, 0xFFFE)
	u.SetCoils(1, true, false, true)
	tb.sim.Unit(2) // exists, but the gateway keeps it silent
	tb.gw.Silence(2, true)

	var out bytes.Buffer
	err := modbus.Scan(context.Background(), tb.url, modbus.ScanOptions{
		Units: []int{1, 2}, Tables: []string{"holding", "coil", "input"}, Count: 16, Chunk: 8,
		Timeout: 150 * time.Millisecond}, &out)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(` +`).ReplaceAllString(out.String(), " ")
	for _, want := range []string{
		"# modbus scan rtutcp://" + strings.TrimPrefix(tb.url, "rtutcp://") + ": units 1-2, holding,coil,input 0..15\n",
		"holding 3 0x4142 16706 16706 \"AB\" 12.1416 510.5098\n", // 0x414243FF, 0x43FF4142
		"holding 4 0x43FF 17407 17407 \"C.\" 510.0002 6.672409e-40\n",
		"holding 5 0x0007 7 7 \"..\" \n",
		"holding 10 0xFFFE 65534 -2 \"..\" \n",
		"coil 1-3 101\n",
		"input no readable address in range\n",
		"# answered: 1\n# no answer: 2\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scan output lacks %q", want)
		}
	}
	if strings.Contains(text, "unit 2\n") || strings.Contains(text, "holding 6 ") {
		t.Error("scan reported an address or unit that did not answer")
	}
	// Refused chunks are bisected, which for 16 addresses costs less than
	// two requests per address.
	var holding, coil []modbussim.Request
	for _, r := range tb.sim.Requests() {
		switch r.Table {
		case "holding":
			holding = append(holding, r)
		case "coil":
			coil = append(coil, r)
		}
	}
	if n := len(holding); n > 2*16 {
		t.Errorf("%d holding requests for 16 addresses, want a bisection (at most 32)", n)
	}
	if len(coil) == 0 || coil[0].Quantity != 8 {
		t.Errorf("coil requests %+v, want chunks of 8", coil)
	}
	if t.Failed() {
		t.Logf("scan output:\n%s", out.String())
	}
}

func TestScanErrors(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	for url, opts := range map[string]modbus.ScanOptions{
		"udp://x":            {},
		"tcp://127.0.0.1:1":  {Tables: []string{"eeprom"}},
		"tcp://127.0.0.1:2":  {Chunk: 126},
		"tcp://127.0.0.1:3":  {Start: 65535, Count: 2},
		"rtu:///dev/ttyS9":   {Units: []int{0}},
		"rtutcp://127.0.0.1": {Units: []int{248}},
	} {
		if err := modbus.Scan(ctx, url, opts, &out); err == nil {
			t.Errorf("Scan(%q, %+v) succeeded, want an error", url, opts)
		}
	}
	// Nothing listens: the scan fails instead of reporting silent units.
	addr := testserver.FreeAddr(t)
	if err := modbus.Scan(ctx, "tcp://"+addr, modbus.ScanOptions{Units: []int{1}}, &out); err == nil ||
		!strings.Contains(err.Error(), "connect") {
		t.Errorf("Scan of a closed port: %v, want a connect error", err)
	}
	// A cancelled scan stops.
	tb := startTestbed(t, "tcp-gateway")
	tb.gw.Silence(1, true)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := modbus.Scan(cctx, tb.url, modbus.ScanOptions{Timeout: 10 * time.Second}, &out)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("cancelled Scan: %v after %v, want context.DeadlineExceeded promptly", err, time.Since(start))
	}
}

func TestParseUnitIDs(t *testing.T) {
	got, err := modbus.ParseUnitIDs("17, 1-3,2,20-21")
	if want := []int{1, 2, 3, 17, 20, 21}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseUnitIDs = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "x", "3-1", "1-", "256", "-1"} {
		if _, err := modbus.ParseUnitIDs(bad); err == nil {
			t.Errorf("ParseUnitIDs(%q) succeeded", bad)
		}
	}
}
