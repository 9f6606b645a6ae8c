package seal

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/wotchain/wotchain/bridge/reading"
)

// The header needs three things from a block's readings: their leaf hashes,
// their time range and their devices. Decoding every reading in full (with
// its canonical-form check) for that was the largest part of sealing; the
// readings are the ingest stage's own canonical encoding read back from the
// store's checksummed records, and verification (block.Open) still checks
// every reading in full. So sealing reads only the two fields it needs,
// and decodes a reading in full only when it looks unusual.

// summary is what the header needs from a block's readings.
type summary struct {
	leaves              [][]byte // Merkle leaf hash of each reading
	firstTime, lastTime int64
	devices             []string // sorted, unique
}

// parallelFrom is the block size from which readings are summarised on
// every core: below it, starting goroutines costs more than it saves.
const parallelFrom = 2048

// summarise hashes and reads every reading of a block (raw[i] has sequence
// number first+i), in chunks on every core for large blocks.
func summarise(raw [][]byte, first uint64) (summary, error) {
	workers := 1
	if len(raw) >= parallelFrom {
		workers = min(runtime.GOMAXPROCS(0), len(raw)/(parallelFrom/2))
	}
	return summariseOn(raw, first, workers)
}

// summariseOn summarises with the given number of goroutines.
func summariseOn(raw [][]byte, first uint64, workers int) (summary, error) {
	workers = max(1, min(workers, len(raw)))
	out := summary{leaves: make([][]byte, len(raw))}
	chunk := (len(raw) + workers - 1) / workers
	workers = (len(raw) + chunk - 1) / chunk // no empty chunk
	parts := make([]struct {
		first, last int64
		devices     map[string]bool
		err         error
	}, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(raw))
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parts[w]
			p.devices = map[string]bool{}
			var lastDevice []byte
			for i := lo; i < hi; i++ {
				device, t, err := readSummary(raw[i])
				if err != nil {
					p.err = fmt.Errorf("reading %d: %w", first+uint64(i), err)
					return
				}
				out.leaves[i] = reading.LeafHash(raw[i])
				if i == lo || t < p.first {
					p.first = t
				}
				if i == lo || t > p.last {
					p.last = t
				}
				// A poll's readings share their device: one map update per poll.
				if i == lo || string(device) != string(lastDevice) {
					p.devices[string(device)] = true
					lastDevice = device
				}
			}
		}()
	}
	wg.Wait()
	devices := map[string]bool{}
	for w, p := range parts {
		if p.err != nil {
			return summary{}, p.err
		}
		if w == 0 || p.first < out.firstTime {
			out.firstTime = p.first
		}
		if w == 0 || p.last > out.lastTime {
			out.lastTime = p.last
		}
		for d := range p.devices {
			devices[d] = true
		}
	}
	for d := range devices {
		out.devices = append(out.devices, d)
	}
	slices.Sort(out.devices)
	return out, nil
}

// readSummary returns a reading's device id and appliance time. It scans
// the canonical encoding for the two fields (an order of magnitude faster
// than decoding through reflection) and falls back to the full decode, with
// its canonical-form check and errors, for anything the scan does not
// fully understand.
func readSummary(b []byte) (device []byte, t int64, err error) {
	if device, t, ok := scanSummary(b); ok {
		return device, t, nil
	}
	r, err := reading.Decode(b)
	if err != nil {
		return nil, 0, err
	}
	return []byte(r.DeviceID), r.ApplianceTime, nil
}

// Reading map keys (see reading.Reading).
const (
	keyDeviceID      = 2
	keyApplianceTime = 12
)

// scanSummary reads keys 2 (text) and 12 (integer) from a CBOR map of
// integer keys in ascending order whose values are integers, strings,
// floats or simple values: the shape of every canonical reading. Anything
// else (nested items, indefinite lengths, keys out of order, trailing
// bytes, a missing field) reports ok=false.
func scanSummary(b []byte) (device []byte, t int64, ok bool) {
	major, n, rest, ok := head(b)
	if !ok || major != 5 {
		return nil, 0, false
	}
	var haveDevice, haveTime bool
	prevKey := int64(-1)
	for range n {
		var key uint64
		if major, key, rest, ok = head(rest); !ok || major != 0 || int64(key) <= prevKey || key > math.MaxInt32 {
			return nil, 0, false
		}
		prevKey = int64(key)
		var arg uint64
		if major, arg, rest, ok = head(rest); !ok {
			return nil, 0, false
		}
		switch major {
		case 0, 1: // integer: the argument is the value
			if key == keyApplianceTime {
				if arg > math.MaxInt64 {
					return nil, 0, false
				}
				t, haveTime = int64(arg), true
				if major == 1 {
					t = -1 - t
				}
			}
		case 2, 3: // byte or text string of arg bytes
			if arg > uint64(len(rest)) {
				return nil, 0, false
			}
			if key == keyDeviceID && major == 3 {
				device, haveDevice = rest[:arg], true
			}
			rest = rest[arg:]
		case 7: // simple value or float; head consumed its payload
		default:
			return nil, 0, false
		}
	}
	return device, t, ok && len(rest) == 0 && haveDevice && haveTime
}

// head decodes a CBOR item head: its major type and argument, and the bytes
// after it. For major type 7 the argument is the simple value or the float's
// bits. Indefinite lengths and reserved encodings report ok=false.
func head(b []byte) (major byte, arg uint64, rest []byte, ok bool) {
	if len(b) == 0 {
		return 0, 0, nil, false
	}
	major, ai := b[0]>>5, b[0]&0x1f
	b = b[1:]
	switch {
	case ai < 24:
		return major, uint64(ai), b, true
	case ai == 24 && len(b) >= 1:
		return major, uint64(b[0]), b[1:], true
	case ai == 25 && len(b) >= 2:
		return major, uint64(binary.BigEndian.Uint16(b)), b[2:], true
	case ai == 26 && len(b) >= 4:
		return major, uint64(binary.BigEndian.Uint32(b)), b[4:], true
	case ai == 27 && len(b) >= 8:
		return major, binary.BigEndian.Uint64(b), b[8:], true
	}
	return 0, 0, nil, false
}
