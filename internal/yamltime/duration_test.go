package yamltime

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDuration(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 1m30s\n"), &v); err != nil || v.D.D() != 90*time.Second {
		t.Fatalf("1m30s: %v, %v", v.D, err)
	}
	for _, bad := range []string{"d: 10\n", "d: ten seconds\n", "d: [1s]\n"} {
		err := yaml.Unmarshal([]byte(bad), &v)
		if err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v; want an error naming line 1", bad, err)
		}
	}
}

func TestDurationRoundTrip(t *testing.T) {
	type doc struct {
		D Duration `yaml:"d"`
	}
	for _, d := range []time.Duration{0, 1, 1500 * time.Millisecond, 90 * time.Second, 26 * time.Hour} {
		b, err := yaml.Marshal(doc{Duration(d)})
		if err != nil {
			t.Fatal(err)
		}
		var back doc
		if err := yaml.Unmarshal(b, &back); err != nil || back.D.D() != d {
			t.Fatalf("%s: written %q, read back %s, %v", d, b, back.D, err)
		}
	}
}
