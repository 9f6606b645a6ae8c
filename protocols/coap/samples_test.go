package coap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/wotchain/wotchain/protocols"
)

func TestGroupByPath(t *testing.T) {
	got := groupByPath(demoPoints())
	want := []resource{
		{path: "/sensors/humidity", points: []int{0}},
		{path: "/sensors/env", points: []int{1, 2, 3, 4}},
		{path: "/sensors/door", points: []int{5}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groupByPath = %v, want %v", got, want)
	}
}

func TestBuildSamplesPartialTimeout(t *testing.T) {
	points := []Point{
		{Name: "a", Path: "/a"},
		{Name: "b", Path: "/b", Format: FormatJSON, Field: "x"},
		{Name: "c", Path: "/b", Format: FormatJSON, Field: "y"},
		{Name: "d", Path: "/d"},
	}
	timeout := fmt.Errorf("GET /b: no response within 3s: %w", context.DeadlineExceeded)
	results := []response{
		{code: codes.Content, format: message.TextPlain, hasFormat: true, payload: []byte("1")},
		{err: timeout},
		{code: codes.InternalServerError, payload: []byte("sensor offline")},
	}
	samples, err := buildSamples(points, groupByPath(points), results)
	if err != nil {
		t.Fatalf("buildSamples: %v", err)
	}
	wantQ := []protocols.Quality{protocols.Good, protocols.Bad, protocols.Bad, protocols.Bad}
	wantReason := []string{"", "no response within", "no response within", `5.00 InternalServerError: "sensor offline"`}
	for i, s := range samples {
		if s.Point != points[i].Name || s.Quality != wantQ[i] || !strings.Contains(s.Reason, wantReason[i]) {
			t.Errorf("samples[%d] = %+v, want %s %v %q", i, s, points[i].Name, wantQ[i], wantReason[i])
		}
	}
}

func TestBuildSamplesAllFailed(t *testing.T) {
	points := []Point{{Name: "a", Path: "/a"}, {Name: "b", Path: "/b"}}
	results := []response{
		{err: fmt.Errorf("GET /a: %w", context.DeadlineExceeded)},
		{err: errors.New("GET /b: connection was closed")},
	}
	_, err := buildSamples(points, groupByPath(points), results)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 requests failed") {
		t.Fatalf("buildSamples error = %v, want the count and the first failure", err)
	}
}

func TestDescribeCode(t *testing.T) {
	for code, want := range map[codes.Code]string{
		codes.NotFound:           "4.04 NotFound",
		codes.ServiceUnavailable: "5.03 ServiceUnavailable",
		codes.Changed:            "2.04 Changed",
	} {
		if got := describeCode(code, nil); got != want {
			t.Errorf("describeCode(%d) = %q, want %q", code, got, want)
		}
	}
}
