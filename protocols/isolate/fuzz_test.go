package isolate

import (
	"bytes"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/wotchain/wotchain/protocols"
)

// FuzzReadResponse feeds arbitrary bytes where the appliance reads an
// agent's answers (an agent handles a device's data, so it can be made to
// say anything). Reading never panics, and every sample decoded has a
// value of one of the four types and text that is UTF-8.
func FuzzReadResponse(f *testing.F) {
	var seed bytes.Buffer
	ws := make([]wireSample, 0, len(everyValue))
	for _, s := range everyValue {
		w, err := toWire(s)
		if err != nil {
			f.Fatal(err)
		}
		ws = append(ws, w)
	}
	if err := writeFrame(&seed, response{ID: 7, Samples: ws, Err: "timeout", Stats: &protocols.Stats{Connected: true}}); err != nil {
		f.Fatal(err)
	}
	f.Add(seed.Bytes())
	f.Add(seed.Bytes()[:len(seed.Bytes())/2])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			var resp response
			err := readFrame(r, &resp)
			if err != nil {
				return // refused, as a whole frame: the agent is then killed
			}
			if !utf8.ValidString(resp.Err) {
				t.Fatalf("error text not UTF-8: %q", resp.Err)
			}
			for _, w := range resp.Samples {
				s := fromWire(w)
				switch v := s.Value.(type) {
				case nil, int64, bool:
				case float64:
					_ = math.IsNaN(v)
				case string:
					if !utf8.ValidString(v) {
						t.Fatalf("string value not UTF-8: %q", v)
					}
				default:
					t.Fatalf("value of type %T", s.Value)
				}
				if !utf8.ValidString(s.Point) || !utf8.ValidString(s.Reason) || !utf8.ValidString(s.Unit) {
					t.Fatalf("labels not UTF-8: %#v", s)
				}
			}
		}
	})
}
