package format

import "testing"

// TestUnmarshalStrict: the decoder refuses what core deterministic CBOR
// would never produce, so no second encoding of a signed structure decodes.
func TestUnmarshalStrict(t *testing.T) {
	for name, data := range map[string][]byte{
		"duplicate key":     {0xa2, 0x01, 0x01, 0x01, 0x02},
		"indefinite length": {0xbf, 0x01, 0x01, 0xff},
		"tag":               {0xc1, 0x01},
		"nested 17 levels":  append(make17Arrays(), 0x00),
	} {
		t.Run(name, func(t *testing.T) {
			var v any
			if err := Unmarshal(data, &v); err == nil {
				t.Fatalf("Unmarshal accepted %x as %v", data, v)
			}
		})
	}
	var v map[uint64]uint64
	if err := Unmarshal([]byte{0xa2, 0x01, 0x01, 0x02, 0x02}, &v); err != nil || v[1] != 1 || v[2] != 2 {
		t.Fatalf("valid map: %v, %v", v, err)
	}
}

func make17Arrays() []byte {
	b := make([]byte, 17)
	for i := range b {
		b[i] = 0x81 // array of one element
	}
	return b
}
