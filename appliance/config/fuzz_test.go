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
		for _, line := range strings.Split(msg, "\n") {
			if !locatedLine.MatchString(line) {
				t.Fatalf("error line without file:line: %q\nfull error: %s", line, msg)
			}
		}
	})
}
