package coapsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/plgd-dev/go-coap/v3/message"
)

// Demo resource paths.
const (
	PathHumidity  = "/sensors/humidity"
	PathEnv       = "/sensors/env"
	PathDoor      = "/sensors/door"
	PathCBOR      = "/sensors/cbor"
	PathLarge     = "/data/large"
	PathSenMLJSON = "/senml/json"
	PathSenMLCBOR = "/senml/cbor"
)

// demoPaths are the built-in resources, in the order they are routed.
func demoPaths() []string {
	return []string{PathHumidity, PathEnv, PathDoor, PathCBOR, PathLarge, PathSenMLJSON, PathSenMLCBOR}
}

// SenML demo pack constants: the base name, the base time at step 0 (it
// advances one second per step) and the data value.
const (
	SenMLBaseName = "urn:dev:ow:10e2073a01080063:"
	SenMLBaseTime = 1_700_000_000
)

// SenMLData is the demo pack's "blob" data value (vd).
func SenMLData() []byte { return []byte{0xde, 0xad, 0xbe, 0xef} }

// LargeItems is how many entries the large resource holds; its JSON is
// about 3 KiB, so it needs three Block2 blocks of 1024 bytes.
const LargeItems = 400

type representation struct {
	format  message.MediaType
	payload []byte
}

// triangle is a deterministic wave over -2..2 with period 8:
// 0 1 2 1 0 -1 -2 -1.
func triangle(step int) int {
	switch p := step % 8; {
	case p <= 2:
		return p
	case p <= 6:
		return 4 - p
	default:
		return p - 8
	}
}

// demo renders the built-in resources at a step. Numbers are formatted by
// hand with a fixed decimal: encoding/json would write 23.0 as "23", and a
// float point would then decode as an integer.
func demo(path string, step int) (representation, bool) {
	w := triangle(step)
	temp := 22.5 + 0.5*float64(w)
	switch path {
	case PathHumidity:
		v := 45.0 + 0.4*float64(w)
		return representation{message.TextPlain, []byte(strconv.FormatFloat(v, 'f', 1, 64))}, true
	case PathEnv:
		co2 := 415 + 5*w
		body := fmt.Sprintf(`{"temperature": %s, "co2": %d, "fan": true, "site": "line-1"}`,
			strconv.FormatFloat(temp, 'f', 1, 64), co2)
		return representation{message.AppJSON, []byte(body)}, true
	case PathDoor:
		return representation{message.TextPlain, []byte(strconv.FormatBool(step%2 == 1))}, true
	case PathCBOR:
		return representation{message.AppCBOR, cborDoc(step, temp)}, true
	case PathLarge:
		return representation{message.AppJSON, largeDoc(step)}, true
	case PathSenMLJSON:
		return representation{message.AppSenmlJSON, senmlJSON(step)}, true
	case PathSenMLCBOR:
		return representation{message.AppSenmlCbor, senmlCBOR(step)}, true
	}
	return representation{}, false
}

// Payload returns a built-in resource's content format and payload at a
// step, as the simulator serves it, so tests can decode it directly.
func Payload(path string, step int) (message.MediaType, []byte, bool) {
	rep, ok := demo(path, step)
	return rep.format, rep.payload, ok
}

// cborDoc is {"temperature": float, "counter": step, "status": "ok",
// "nested": {"levels": [step, step+1, step+2]}, 7: "seven"}.
func cborDoc(step int, temp float64) []byte {
	doc := map[any]any{
		"temperature": temp,
		"counter":     uint64(step),
		"status":      "ok",
		"nested":      map[string]any{"levels": []int{step, step + 1, step + 2}},
		7:             "seven",
	}
	b, err := cbor.Marshal(doc)
	if err != nil { // static types only; cannot fail
		return nil
	}
	return b
}

// largeDoc is {"step": N, "items": [N, N+1, ...], "total": sum} with
// LargeItems items, so "total" sits beyond the first block.
func largeDoc(step int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"step": %d, "items": [`, step)
	total := 0
	for i := range LargeItems {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d", 1000+step+i)
		total += 1000 + step + i
	}
	fmt.Fprintf(&b, `], "total": %d}`, total)
	return []byte(b.String())
}

// SenMLTemps are the three temperature records of the SenML demo pack at
// a step, oldest first; their times are base time - 2, - 1 and + 0.
func SenMLTemps(step int) [3]float64 {
	base := 20.0 + float64(triangle(step))
	return [3]float64{base, base + 0.25, base + 0.5}
}

// senmlRecords is the demo pack: three temperature records of one name at
// different times, a humidity with its own unit, a boolean, a string and
// a data value.
func senmlRecords(step int) []map[string]any {
	t := SenMLTemps(step)
	return []map[string]any{
		{"bn": SenMLBaseName, "bt": float64(SenMLBaseTime + step), "bu": "Cel", "n": "temp", "t": -2.0, "v": t[0]},
		{"n": "temp", "t": -1.0, "v": t[1]},
		{"n": "temp", "v": t[2]},
		{"n": "humidity", "u": "%RH", "v": 45.5},
		{"n": "door", "vb": step%2 == 1},
		{"n": "label", "vs": "line-1"},
		{"n": "blob", "vd": SenMLData()},
	}
}

func senmlJSON(step int) []byte {
	recs := senmlRecords(step)
	for _, r := range recs {
		if d, ok := r["vd"].([]byte); ok {
			r["vd"] = base64.RawURLEncoding.EncodeToString(d)
		}
	}
	b, err := json.Marshal(recs)
	if err != nil { // static types only; cannot fail
		return nil
	}
	return b
}

// senmlCBOR encodes the same pack with the integer labels of RFC 8428 §6.
func senmlCBOR(step int) []byte {
	labels := map[string]int{"bn": -2, "bt": -3, "bu": -4, "n": 0, "u": 1, "v": 2, "vs": 3, "vb": 4, "t": 6, "vd": 8}
	var pack []map[int]any
	for _, r := range senmlRecords(step) {
		m := make(map[int]any, len(r))
		for k, v := range r {
			m[labels[k]] = v
		}
		pack = append(pack, m)
	}
	b, err := cbor.Marshal(pack)
	if err != nil { // static types only; cannot fail
		return nil
	}
	return b
}
