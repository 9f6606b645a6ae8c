package reading

import (
	"bytes"
	"encoding/json"
	"time"
)

// JSON is the JSON form of a reading, for people and partners to read. The
// canonical CBOR bytes are what is signed; this form is derived from them.
type JSON struct {
	Seq         uint64     `json:"seq"`
	ApplianceID string     `json:"appliance_id"`
	Device      string     `json:"device"`
	Point       string     `json:"point"`
	Type        string     `json:"type"`  // float, int, bool, string, or none
	Value       any        `json:"value"` // null when type is none
	Unit        string     `json:"unit,omitempty"`
	Quality     string     `json:"quality"`
	Reason      string     `json:"reason,omitempty"`
	Time        time.Time  `json:"time"` // appliance time
	SourceTime  *time.Time `json:"source_time,omitempty"`
}

// JSON returns the reading's JSON form.
func (r *Reading) JSON() JSON {
	out := JSON{
		Seq: r.Seq, ApplianceID: r.ApplianceID, Device: r.DeviceID, Point: r.Point, Value: r.Value(),
		Unit: r.Unit, Quality: r.Quality.String(), Reason: r.Reason, Time: r.Time(),
	}
	switch {
	case r.Float != nil:
		out.Type = "float"
	case r.Int != nil:
		out.Type = "int"
	case r.Bool != nil:
		out.Type = "bool"
	case r.Str != nil:
		out.Type = "string"
	default:
		out.Type = "none"
	}
	if r.SourceTime != 0 {
		t := time.Unix(0, r.SourceTime).UTC()
		out.SourceTime = &t
	}
	return out
}

// UnmarshalJSON keeps numeric values exact (an int64 beyond 2^53 would not
// survive a float64), so a verifier can compare them with the canonical
// reading.
func (j *JSON) UnmarshalJSON(data []byte) error {
	type plain JSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*j = JSON(p)
	return nil
}
