package reading

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReadingJSONKeepsLargeIntegers(t *testing.T) {
	r := &Reading{ApplianceID: "app-1", DeviceID: "d", Point: "counter", Seq: 1, ApplianceTime: 1}
	if err := r.SetValue(int64(1<<53 + 1)); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(r.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"value":9007199254740993`) {
		t.Fatalf("encoded %s", data)
	}
	var back JSON
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(data) {
		t.Fatalf("round trip changed the reading:\n%s\n%s", data, again)
	}
}
