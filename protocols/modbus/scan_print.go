package modbus

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// print writes one unit's findings: registers one per line with the usual
// interpretations (so the integrator can spot a float's word order or a
// string), bits as runs of 0 and 1.
func (u unitResult) print(w io.Writer, unit byte) {
	fmt.Fprintf(w, "unit %d\n", unit)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := false
	for _, t := range u.tables {
		addrs := make([]uint16, 0, len(t.values))
		for a := range t.values {
			addrs = append(addrs, a)
		}
		slices.Sort(addrs)
		if len(addrs) == 0 {
			note := t.note
			if note == "" {
				note = "no readable address in range"
			}
			fmt.Fprintf(tw, "  %s\t%s\n", t.kind, note)
			continue
		}
		if t.kind.isBit() {
			for _, run := range runs(addrs) {
				var b strings.Builder
				for _, a := range run {
					b.WriteByte('0' + byte(t.values[a]))
				}
				fmt.Fprintf(tw, "  %s\t%d-%d\t%s\n", t.kind, run[0], run[len(run)-1], b.String())
			}
			continue
		}
		if !header {
			fmt.Fprintf(tw, "  table\taddress\thex\tuint16\tint16\ttext\tfloat32 ABCD\tfloat32 CDAB\n")
			header = true
		}
		for _, a := range addrs {
			v := t.values[a]
			f1, f2 := "", ""
			if next, ok := t.values[a+1]; ok && a < math.MaxUint16 {
				f1 = formatFloat32(v, next)
				f2 = formatFloat32(next, v)
			}
			fmt.Fprintf(tw, "  %s\t%d\t0x%04X\t%d\t%d\t%s\t%s\t%s\n", t.kind, a, v, v, int16(v), text(v), f1, f2)
		}
	}
	_ = tw.Flush()
}

// runs splits sorted addresses into runs of consecutive ones.
func runs(addrs []uint16) [][]uint16 {
	var out [][]uint16
	start := 0
	for i := 1; i <= len(addrs); i++ {
		if i == len(addrs) || addrs[i] != addrs[i-1]+1 {
			out = append(out, addrs[start:i])
			start = i
		}
	}
	return out
}

func formatFloat32(hi, lo uint16) string {
	f := math.Float32frombits(uint32(hi)<<16 | uint32(lo))
	return strconv.FormatFloat(float64(f), 'g', 7, 32)
}

// text shows a register's two bytes as characters, '.' where unprintable.
func text(v uint16) string {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			b[i] = '.'
		}
	}
	return strconv.Quote(string(b[:]))
}
