// Package protocols defines what every device protocol hands to the pipeline:
// a Source that is polled, and the Samples it returns. One package per
// protocol (opcua, modbus, coap) implements Source; the pipeline never sees
// protocol types.
package protocols

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// Quality says how far a value can be trusted, mapped from the protocol's own
// status (OPC UA status code severity, Modbus exception, CoAP response code).
type Quality uint8

const (
	Good Quality = iota
	Uncertain
	Bad
)

func (q Quality) String() string {
	switch q {
	case Good:
		return "good"
	case Uncertain:
		return "uncertain"
	case Bad:
		return "bad"
	}
	return fmt.Sprintf("quality(%d)", uint8(q))
}

// Sample is one point's value as read from a device, before normalisation.
//
// Value holds exactly one of float64, int64, bool or string, or nil when the
// value could not be read or decoded (Quality is then Bad and Reason says
// why). Protocol packages convert their native types to these four.
type Sample struct {
	Point      string
	Value      any
	Unit       string
	Quality    Quality
	Reason     string    // why the quality is not Good; empty when Good
	SourceTime time.Time // the device's own timestamp; zero when it gives none
	// Received is when the appliance received a pushed value (OPC UA
	// subscription, CoAP Observe). Zero for polled values: the poll's time
	// is used.
	Received time.Time
}

// Source is one configured device. Poll reads every configured point once;
// a source that subscribes (OPC UA monitored items, CoAP Observe) returns
// instead every value pushed since the previous Poll, each with Received
// set, so no change between polls is lost.
//
// A point that cannot be read or decoded comes back as a Bad sample with the
// reason, so one broken point never hides the others. Poll returns an error
// only when the device as a whole could not be reached or answered nothing
// usable; the caller then retries on its next interval.
type Source interface {
	Poll(ctx context.Context) ([]Sample, error)
	Close() error
}

// Stats are a source's connection statistics, for health and metrics.
type Stats struct {
	Connected        bool
	Reconnects       uint64 // connections re-established after a failure
	RequestsLastPoll int    // protocol requests the last poll needed (Modbus coalescing shows here)
	RequestsTotal    uint64
}

// StatsReporter is implemented by sources that keep Stats.
type StatsReporter interface {
	Stats() Stats
}

// Options are the settings common to every protocol, taken from the device's
// entry in the appliance configuration.
type Options struct {
	DeviceID string
	Timeout  time.Duration // per request; zero means the protocol's default
	Logger   *slog.Logger
	// StateDir is a directory the protocol may keep state in across
	// restarts (certificates, trust lists), shared by all devices of that
	// protocol: <data_dir>/protocols/<protocol>. Created on demand by the protocol.
	StateDir string
}

// FieldError names the configuration key a validation error concerns, as a
// path relative to the protocol's own section (for example
// "points[2].type"), so the config loader can report file, line and key.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrorf builds a FieldError with a formatted message.
func FieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Nested prefixes a field path: Nested("points[2]", "type") == "points[2].type".
func Nested(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "" || strings.HasPrefix(child, "["):
		return parent + child
	}
	return parent + "." + child
}

// ValidText makes a label or message valid UTF-8, as CBOR text (readings,
// agent messages) must be: error messages and reasons can quote a device's
// bytes. Values are never repaired this way: a changed value is a forged one.
func ValidText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// PointName is one configured point's name and its key relative to the
// protocol's section ("points[2].name").
type PointName struct {
	Field, Name string
}

// NamedPoints is implemented by every protocol's settings: the names its
// points' samples will carry, so the appliance's configuration can refuse
// the names it reserves for its own records (points starting with '$').
type NamedPoints interface {
	PointNames() []PointName
}

// PointNamesOf lists names with their keys "points[i].name".
func PointNamesOf(names []string) []PointName {
	out := make([]PointName, len(names))
	for i, n := range names {
		out[i] = PointName{Field: fmt.Sprintf("points[%d].name", i), Name: n}
	}
	return out
}
