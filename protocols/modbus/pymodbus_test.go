package modbus_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols/modbus"
)

// pymodbusPoints is the layout pymodbus_server.py serves.
func pymodbusPoints() []modbus.Point {
	return []modbus.Point{
		{Name: "f32_abcd", Register: "holding", Address: 0, Type: "float32", Order: "ABCD"},
		{Name: "f32_cdab", Register: "holding", Address: 2, Type: "float32", Order: "CDAB"},
		{Name: "i32", Register: "holding", Address: 4, Type: "int32"},
		{Name: "bit0", Register: "holding", Address: 6, Type: "bit", Bit: ptr(0)},
		{Name: "bit1", Register: "holding", Address: 6, Type: "bit", Bit: ptr(1)},
		{Name: "bit15", Register: "holding", Address: 6, Type: "bit", Bit: ptr(15)},
		{Name: "name", Register: "holding", Address: 7, Type: "string", Length: 8},
		{Name: "i16", Register: "holding", Address: 15, Type: "int16"},
		{Name: "f64", Register: "input", Address: 0, Type: "float64"},
		{Name: "scaled", Register: "input", Address: 4, Type: "uint16", Scale: ptr(0.01)},
		{Name: "coil0", Register: "coil", Address: 0},
		{Name: "coil1", Register: "coil", Address: 1},
		{Name: "coil3", Register: "coil", Address: 3},
		{Name: "di0", Register: "discrete", Address: 0},
		{Name: "di2", Register: "discrete", Address: 2},
	}
}

// pymodbusWant is what unit n (1 or 2) serves, as the script documents.
func pymodbusWant(n int) map[string]any {
	one := n == 1
	return map[string]any{
		"f32_abcd": 123.456 * float64(n),
		"f32_cdab": 1013.25 + float64(n),
		"i32":      int64(-123456789 * n),
		"bit0":     one,
		"bit1":     !one,
		"bit15":    one,
		"name":     fmt.Sprintf("WoTChain-%d", n),
		"i16":      int64(-300 * n),
		"f64":      6.02214076e23 * float64(n),
		"scaled":   float64(4200+n) * 0.01,
		"coil0":    one,
		"coil1":    !one,
		"coil3":    one,
		"di0":      one,
		"di2":      !one,
	}
}

// TestAgainstPymodbus reads known values of two units from the pymodbus
// server over one shared connection, in Modbus TCP and in RTU framing over
// TCP, and checks each one exactly.
func TestAgainstPymodbus(t *testing.T) {
	for _, framer := range []string{"socket", "rtu"} {
		t.Run(framer, func(t *testing.T) {
			t.Parallel()
			addr := testserver.StartPymodbus(t, framer)
			url := "tcp://" + addr
			if framer == "rtu" {
				url = "rtutcp://" + addr
			}
			bus := modbus.NewBus()
			for _, n := range []int{1, 2, 1} {
				// max_gap 1 merges coils 0,1,3 and discrete inputs 0,2.
				src := newSourceCfg(t, modbus.Config{URL: url, UnitID: n, Points: pymodbusPoints(), MaxGap: 1},
					2*time.Second, modbus.WithBus(bus))
				got := poll(t, src)
				for name, want := range pymodbusWant(n) {
					if f, ok := want.(float64); ok && math.Abs(f) > 1e6 {
						// float64 is exact; compare relative to its size.
						if v, _ := got[name].Value.(float64); v != f {
							t.Errorf("unit %d %s = %#v, want %v", n, name, got[name].Value, f)
						}
						continue
					}
					checkGood(t, got, name, want)
				}
				if st := src.Stats(); st.RequestsLastPoll != 4 {
					t.Errorf("unit %d: %d requests, want 4 (one per table)", n, st.RequestsLastPoll)
				}
			}
		})
	}
}

// TestPymodbusCrossCheck reads the same registers with mbpoll, another
// third-party client, and compares them with what the Source reads.
func TestPymodbusCrossCheck(t *testing.T) {
	mbpoll, err := exec.LookPath("mbpoll")
	if err != nil {
		testserver.MissingServer(t, "no mbpoll for the cross-check (apt-get install mbpoll)")
	}
	addr := testserver.StartPymodbus(t, "socket")
	host, port, _ := net.SplitHostPort(addr)
	src := newSourceCfg(t, modbus.Config{URL: "tcp://" + addr, UnitID: 2, Points: pymodbusPoints()}, 2*time.Second)
	got := poll(t, src)

	read := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		args = append([]string{"-m", "tcp", "-p", port, "-a", "2", "-0", "-1"}, append(args, host)...)
		out, err := exec.CommandContext(ctx, mbpoll, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("mbpoll %v: %v\n%s", args, err, out)
		}
		m := regexp.MustCompile(`(?m)^\[\d+\]:\s+(\S+)`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("mbpoll %v printed no value:\n%s", args, out)
		}
		return m[1]
	}
	// mbpoll -B: high word first (ABCD); without -B low word first (CDAB).
	for _, c := range []struct{ point, ref, typ string }{
		{"f32_abcd", "0", "4:float -B"},
		{"f32_cdab", "2", "4:float"},
		{"i32", "4", "4:int -B"},
	} {
		typ, extra, _ := strings.Cut(c.typ, " ")
		args := []string{"-r", c.ref, "-t", typ}
		if extra != "" {
			args = append(args, extra)
		}
		theirs, err := strconv.ParseFloat(read(args...), 64)
		if err != nil {
			t.Fatalf("%s: mbpoll value: %v", c.point, err)
		}
		var ours float64
		switch v := got[c.point].Value.(type) {
		case float64:
			ours = v
		case int64:
			ours = float64(v)
		}
		// mbpoll prints six significant digits.
		if math.Abs(ours-theirs) > 1e-5*math.Abs(theirs) {
			t.Errorf("%s: Source read %v, mbpoll %v", c.point, ours, theirs)
		}
	}
}

// TestScanPymodbus scans the pymodbus server: units 1 and 2 answer, 3 not.
func TestScanPymodbus(t *testing.T) {
	addr := testserver.StartPymodbus(t, "socket")
	var out bytes.Buffer
	err := modbus.Scan(context.Background(), "tcp://"+addr, modbus.ScanOptions{
		Units: []int{1, 2, 3}, Count: 20, Timeout: 300 * time.Millisecond}, &out)
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	flat := regexp.MustCompile(` +`).ReplaceAllString(text, " ")
	for _, want := range []string{
		"# answered: 1-2\n", "# no answer: 3\n",
		"unit 1\n", "unit 2\n",
		"holding 0 0x42F6 17142 17142 \"B.\" 123.456 ",                 // float32 ABCD of unit 1
		"holding 2 0x9000 36864 -28672 \"..\" -2.529631e-29 1014.25\n", // float32 CDAB
		"holding 7 0x576F 22383 22383 \"Wo\"",
		"holding 15 0xFDA8 64936 -600 \"..\"", // unit 2
		"coil 0-3 1011\n", "coil 0-3 0100\n",
		"discrete 0-2 110\n", "discrete 0-2 001\n",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("scan output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("scan output:\n%s", text)
	}
}
