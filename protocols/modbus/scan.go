package modbus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goburrow/modbus"

	"github.com/wotchain/wotchain/protocols"
)

// ScanOptions say what Scan probes. The zero value scans the first 100
// addresses of all four tables of units 1..10 (tcp://) or 1..247 (a serial
// bus: rtu:// and rtutcp://).
type ScanOptions struct {
	Units   []int         // unit ids to probe; empty: the default range
	Tables  []string      // holding, input, coil, discrete; empty: all four
	Start   uint16        // first address of each table
	Count   int           // addresses per table; 0: 100
	Chunk   int           // addresses per request, 1..125; 0: 16
	Timeout time.Duration // per request; 0: 500ms
	Pause   time.Duration // between requests, for slow serial devices
	Logger  *slog.Logger  // progress at debug level; nil: none
}

// Scan defaults.
const (
	scanCount   = 100
	scanChunk   = 16
	scanTimeout = 500 * time.Millisecond
	tcpUnits    = 10
)

// Scan probes the units and address ranges in opts on the device at rawURL
// (the url of a device config) and writes to w what answers, one table per
// unit with each register's value in the usual interpretations, so that an
// integrator can write the points of a config. A unit that does not answer
// its first request (or for which a gateway reports no path) is skipped; a
// chunk refused with an exception is bisected down to single addresses.
// Scan returns an error for invalid options, when the port cannot be
// opened, or when ctx ends.
func Scan(ctx context.Context, rawURL string, opts ScanOptions, w io.Writer) error {
	ep, err := parseEndpoint(rawURL)
	if err != nil {
		return fmt.Errorf("modbus scan: url: %w", err)
	}
	sc, err := newScanner(ep, opts, w)
	if err != nil {
		return fmt.Errorf("modbus scan %s: %w", ep.key(), err)
	}
	defer sc.port.shutdown()
	return sc.run(ctx)
}

// ParseUnitIDs parses a unit id list such as "1-10,17,20-22", for command
// lines.
func ParseUnitIDs(s string) ([]int, error) {
	var ids []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("unit ids %q: %q is not a number", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("unit ids %q: %q is not a number", s, hi)
			}
		}
		if a < 0 || b > 255 || a > b {
			return nil, fmt.Errorf("unit ids %q: %q is not a range within 0..255", s, part)
		}
		for id := a; id <= b; id++ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

type scanner struct {
	port   *port
	opts   ScanOptions
	units  []int
	tables []registerKind
	w      io.Writer
	log    *slog.Logger
}

func newScanner(ep endpoint, opts ScanOptions, w io.Writer) (*scanner, error) {
	opts.Count = cmp.Or(opts.Count, scanCount)
	opts.Chunk = cmp.Or(opts.Chunk, scanChunk)
	opts.Timeout = cmp.Or(opts.Timeout, scanTimeout)
	opts.Logger = protocols.Logger(opts.Logger)
	var errs []error
	if opts.Count < 1 || int(opts.Start)+opts.Count-1 > 0xFFFF {
		errs = append(errs, fmt.Errorf("start %d and count %d leave the address range 0..65535", opts.Start, opts.Count))
	}
	if opts.Chunk < 1 || opts.Chunk > maxRegistersPerRequest {
		errs = append(errs, fmt.Errorf("chunk must be 1..%d, got %d", maxRegistersPerRequest, opts.Chunk))
	}
	if opts.Timeout < 0 || opts.Pause < 0 || opts.Pause > maxPause {
		errs = append(errs, fmt.Errorf("timeout must be positive and pause 0..%v", maxPause))
	}
	units := slices.Clone(opts.Units)
	if len(units) == 0 {
		last := tcpUnits
		if ep.isSerialBus() {
			last = maxUnitID
		}
		for id := 1; id <= last; id++ {
			units = append(units, id)
		}
	}
	lo, hi := 0, 255
	if ep.isSerialBus() {
		lo, hi = 1, maxUnitID // 0 is broadcast on a serial bus: nobody answers
	}
	for _, id := range units {
		if id < lo || id > hi {
			errs = append(errs, fmt.Errorf("unit id %d is outside %d..%d", id, lo, hi))
			break
		}
	}
	var tables []registerKind
	for _, name := range opts.Tables {
		k, ok := parseRegisterKind(name)
		if !ok {
			errs = append(errs, fmt.Errorf("unknown table %q (want holding, input, coil or discrete)", name))
			continue
		}
		if !slices.Contains(tables, k) {
			tables = append(tables, k)
		}
	}
	if len(opts.Tables) == 0 {
		tables = allKinds[:]
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &scanner{port: newPort(ep, opts.Logger), opts: opts, units: units, tables: tables, w: w, log: opts.Logger}, nil
}

func (sc *scanner) run(ctx context.Context) error {
	ep := sc.port.ep
	fmt.Fprintf(sc.w, "# modbus scan %s: units %s, %s %d..%d\n", ep, formatIDs(sc.units),
		kindNames(sc.tables), sc.opts.Start, int(sc.opts.Start)+sc.opts.Count-1)
	var answered, silent []int
	for _, unit := range sc.units {
		found, err := sc.scanUnit(ctx, byte(unit))
		if err != nil {
			return err
		}
		if found {
			answered = append(answered, unit)
		} else {
			silent = append(silent, unit)
		}
	}
	fmt.Fprintf(sc.w, "# answered: %s\n", formatIDs(answered))
	if len(silent) > 0 {
		fmt.Fprintf(sc.w, "# no answer: %s\n", formatIDs(silent))
	}
	return nil
}

// scanUnit scans every table of one unit; found is false when the unit did
// not answer its first request.
func (sc *scanner) scanUnit(ctx context.Context, unit byte) (found bool, err error) {
	sc.log.Debug("modbus scan: probing unit", "unit", unit)
	var res unitResult
	first := true
	for _, kind := range sc.tables {
		t := tableResult{kind: kind, values: make(map[uint16]uint16)}
		end := int(sc.opts.Start) + sc.opts.Count
		for a := int(sc.opts.Start); a < end; a += sc.opts.Chunk {
			q := min(sc.opts.Chunk, end-a)
			state, err := sc.probe(ctx, unit, &t, uint16(a), uint16(q))
			if err != nil {
				return false, err
			}
			if first && state == probeSilent {
				return false, nil
			}
			first = false
			if state == probeNoTable {
				break
			}
		}
		res.tables = append(res.tables, t)
	}
	res.print(sc.w, unit)
	return true, nil
}

type probeState uint8

const (
	probeAnswered probeState = iota // data or an exception came back
	probeSilent                     // timeout, or a gateway without a path
	probeNoTable                    // illegal function: the unit has no such table
)

// probe reads addr+qty and records what answers, bisecting a refused range.
func (sc *scanner) probe(ctx context.Context, unit byte, t *tableResult, addr, qty uint16) (probeState, error) {
	req := readRequest{kind: t.kind, address: addr, quantity: qty}
	raw, out, err := sc.port.read(ctx, call{unit: unit, req: req, timeout: sc.opts.Timeout, pause: sc.opts.Pause})
	var mbErr *modbus.ModbusError
	switch {
	case err == nil:
		t.record(req, raw)
		return probeAnswered, nil
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case out.sent == 0:
		return 0, err // the port could not be opened
	case isException(err, t.kind) && errors.As(err, &mbErr):
		switch {
		case gatewayUnreachable(mbErr):
			return probeSilent, nil
		case mbErr.ExceptionCode == modbus.ExceptionCodeIllegalFunction:
			t.note = "not supported (illegal function)"
			return probeNoTable, nil
		case qty > 1:
			half := qty / 2
			if _, err := sc.probe(ctx, unit, t, addr, half); err != nil {
				return 0, err
			}
			if _, err := sc.probe(ctx, unit, t, addr+half, qty-half); err != nil {
				return 0, err
			}
		}
		return probeAnswered, nil
	}
	sc.log.Debug("modbus scan: no answer", "unit", unit, "request", req.String(), "err", err)
	if t.note == "" {
		t.note = fmt.Sprintf("no answer for %s (%v)", req, err)
	}
	return probeSilent, nil
}

// tableResult collects what one table of one unit answered.
type tableResult struct {
	kind   registerKind
	values map[uint16]uint16 // registers, or 0/1 for bits
	note   string
}

func (t *tableResult) record(r readRequest, raw []byte) {
	for i := range int(r.quantity) {
		a := r.address + uint16(i)
		if r.kind.isBit() {
			if b, err := bitAt(raw, i); err == nil && b {
				t.values[a] = 1
			} else if err == nil {
				t.values[a] = 0
			}
		} else if 2*i+1 < len(raw) {
			t.values[a] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
		}
	}
}

type unitResult struct{ tables []tableResult }

func kindNames(ks []registerKind) string {
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.String()
	}
	return strings.Join(names, ",")
}

// formatIDs writes ids as ranges: 1-3,7.
func formatIDs(ids []int) string {
	if len(ids) == 0 {
		return "none"
	}
	var parts []string
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ids[i], ids[j]))
		} else {
			parts = append(parts, strconv.Itoa(ids[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
