// Package logging builds the appliance's log/slog logger: text or JSON on
// one writer, a global level, and a level per component. A logger derived
// with log.With("component", name) takes that component's level, so
// an operator can debug the outbox without drowning in poll lines.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// New returns the logger. components maps a component name ("outbox",
// "mqtt", "http", a device protocol...) to its level name.
func New(w io.Writer, format, level string, components map[string]string) (*slog.Logger, error) {
	base, err := parseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	levels := map[string]slog.Level{}
	lowest := base
	for name, l := range components {
		lv, err := parseLevel(l)
		if err != nil {
			return nil, fmt.Errorf("log.components.%s: %w", name, err)
		}
		levels[name] = lv
		lowest = min(lowest, lv)
	}
	// The inner handler lets everything down to the lowest configured level
	// through; levelHandler decides per logger.
	opts := &slog.HandlerOptions{Level: lowest}
	var inner slog.Handler
	switch format {
	case "json":
		inner = slog.NewJSONHandler(w, opts)
	case "text", "":
		inner = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("log.format: unknown format %q (text, json)", format)
	}
	return slog.New(levelHandler{inner: inner, level: base, levels: levels}), nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	switch s {
	case "debug", "info", "warn", "error":
		return l, l.UnmarshalText([]byte(s))
	}
	return l, fmt.Errorf("unknown level %q (debug, info, warn, error)", s)
}

// ValidLevel reports whether s names a level.
func ValidLevel(s string) bool { _, err := parseLevel(s); return err == nil }

type levelHandler struct {
	inner  slog.Handler
	level  slog.Level
	levels map[string]slog.Level
}

func (h levelHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h levelHandler) Handle(ctx context.Context, r slog.Record) error { return h.inner.Handle(ctx, r) }

func (h levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	level := h.level
	for _, a := range as {
		if a.Key == "component" {
			if l, ok := h.levels[a.Value.String()]; ok {
				level = l
			}
		}
	}
	return levelHandler{inner: h.inner.WithAttrs(as), level: level, levels: h.levels}
}

func (h levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{inner: h.inner.WithGroup(name), level: h.level, levels: h.levels}
}
