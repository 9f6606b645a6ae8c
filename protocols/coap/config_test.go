package coap

import (
	"errors"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/protocols"
)

func validConfig() Config {
	return Config{
		URL: "coap://127.0.0.1:5683",
		Points: []Point{
			{Name: "humidity", Path: "/sensors/humidity"},
			{Name: "temperature", Path: "/sensors/env", Format: "json", Field: "temperature"},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		fields []string // expected FieldError paths, in order; nil means valid
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "url without port", mutate: func(c *Config) { c.URL = "coap://device.local" }},
		{name: "url with slash", mutate: func(c *Config) { c.URL = "coap://[::1]:5683/" }},
		{name: "url missing", mutate: func(c *Config) { c.URL = "" }, fields: []string{"url"}},
		{name: "url coaps", mutate: func(c *Config) { c.URL = "coaps://h:5684" }, fields: []string{"url"}},
		{name: "url http", mutate: func(c *Config) { c.URL = "http://h" }, fields: []string{"url"}},
		{name: "url no scheme", mutate: func(c *Config) { c.URL = "127.0.0.1:5683" }, fields: []string{"url"}},
		{name: "url no host", mutate: func(c *Config) { c.URL = "coap://:5683" }, fields: []string{"url"}},
		{name: "url bad port", mutate: func(c *Config) { c.URL = "coap://h:port" }, fields: []string{"url"}},
		{name: "url with path", mutate: func(c *Config) { c.URL = "coap://h/sensors" }, fields: []string{"url"}},
		{name: "no points", mutate: func(c *Config) { c.Points = nil }, fields: []string{"points"}},
		{name: "name missing", mutate: func(c *Config) { c.Points[0].Name = "" }, fields: []string{"points[0].name"}},
		{name: "name duplicate", mutate: func(c *Config) { c.Points[1].Name = "humidity" }, fields: []string{"points[1].name"}},
		{name: "path missing", mutate: func(c *Config) { c.Points[1].Path = "" }, fields: []string{"points[1].path"}},
		{name: "path relative", mutate: func(c *Config) { c.Points[0].Path = "sensors/x" }, fields: []string{"points[0].path"}},
		{name: "path query", mutate: func(c *Config) { c.Points[0].Path = "/x?a=1" }, fields: []string{"points[0].path"}},
		{name: "format unknown", mutate: func(c *Config) { c.Points[1].Format = "cbor" }, fields: []string{"points[1].format"}},
		{name: "field with text", mutate: func(c *Config) { c.Points[0].Field = "a" }, fields: []string{"points[0].field"}},
		{name: "field empty segment", mutate: func(c *Config) { c.Points[1].Field = "env..t" }, fields: []string{"points[1].field"}},
		{name: "field leading dot", mutate: func(c *Config) { c.Points[1].Field = ".t" }, fields: []string{"points[1].field"}},
		{
			name: "several at once",
			mutate: func(c *Config) {
				c.URL = "coaps://h"
				c.Points = append(c.Points, Point{Name: "humidity", Path: "x", Format: "xml"})
			},
			fields: []string{"url", "points[2].name", "points[2].path", "points[2].format"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg)
			if got := fieldPaths(t, cfg.Validate()); !slices.Equal(got, tt.fields) {
				t.Fatalf("error fields = %q, want %q", got, tt.fields)
			}
		})
	}
}

// fieldPaths unpacks the errors.Join result, requiring every entry to be a
// *protocols.FieldError.
func fieldPaths(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate returned %T, want errors.Join result: %v", err, err)
	}
	var paths []string
	for _, e := range joined.Unwrap() {
		var fe *protocols.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v is %T, not *protocols.FieldError", e, e)
		}
		paths = append(paths, fe.Field)
	}
	return paths
}

func TestConfigYAML(t *testing.T) {
	const doc = `
url: coap://127.0.0.1:5683
points:
  - {name: humidity, path: /sensors/humidity, unit: "%"}
  - {name: co2, path: /sensors/env, format: json, field: co2, unit: ppm}
`
	var cfg Config
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Point{Name: "co2", Path: "/sensors/env", Format: "json", Field: "co2", Unit: "ppm"}
	if cfg.Points[1] != want {
		t.Fatalf("points[1] = %+v, want %+v", cfg.Points[1], want)
	}
	if cfg.Points[0].format() != FormatText {
		t.Fatalf("default format = %q, want text", cfg.Points[0].format())
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{URL: "coaps://h"}, protocols.Options{DeviceID: "dev1"})
	var fe *protocols.FieldError
	if !errors.As(err, &fe) || fe.Field != "url" {
		t.Fatalf("New error = %v, want FieldError on url", err)
	}
}
