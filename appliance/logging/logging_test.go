package logging

import (
	"bytes"
	"log"
	"strings"
	"testing"
)

func TestLevelPerComponent(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "json", "warn", map[string]string{"outbox": "debug", "mqtt": "error"})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("global info")                                           // below warn: dropped
	log.Warn("global warn")                                           // kept
	log.With("component", "outbox").Debug("outbox debug")             // component at debug: kept
	log.With("component", "mqtt").Warn("mqtt warn")                   // component at error: dropped
	log.With("component", "http").Info("http info")                   // unlisted component: global warn, dropped
	log.With("component", "outbox").With("height", 3).Debug("nested") // level survives further With
	out := buf.String()
	for _, want := range []string{"global warn", "outbox debug", "nested"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"global info", "mqtt warn", "http info"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("%q should be filtered:\n%s", unwanted, out)
		}
	}
}

func TestBadLevels(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "text", "loud", nil); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("bad global level: %v", err)
	}
	if _, err := New(&bytes.Buffer{}, "text", "info", map[string]string{"outbox": "chatty"}); err == nil || !strings.Contains(err.Error(), "log.components.outbox") {
		t.Fatalf("bad component level: %v", err)
	}
	if _, err := New(&bytes.Buffer{}, "xml", "info", nil); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// Lines libraries print through the standard library's log package arrive
// as debug records of component stdlib, in the configured format.
func TestCaptureStdlib(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "json", "debug", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer log.SetOutput(log.Writer())
	defer log.SetFlags(log.Flags())
	CaptureStdlib(l)
	log.Printf("doing BaseDataType")
	if got := buf.String(); !strings.Contains(got, `"level":"DEBUG","msg":"doing BaseDataType","component":"stdlib"`) {
		t.Fatalf("logged %q", got)
	}
}
