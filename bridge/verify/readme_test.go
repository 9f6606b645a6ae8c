package verify

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readme is the repository's README, whose "Verify a reading" section
// quotes what verify prints.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The README's table of checks lists every link of a full proof, in the
// order verify prints them.
func TestREADMEListsTheChecks(t *testing.T) {
	text := readme(t)
	_, table, ok := strings.Cut(text, "| check | what it proves |")
	if !ok {
		t.Fatal("README: no table of verify's checks")
	}
	var listed []string
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		listed = append(listed, strings.TrimSpace(strings.Split(line, "|")[1]))
	}
	if !slices.Equal(listed, fullProof) {
		t.Fatalf("README lists the checks %q, verify runs %q", listed, fullProof)
	}
}

// The README's example of a tampered block is what verify prints for one:
// its text with "…" standing for the hashes and the location.
func TestREADMETamperExampleIsTrue(t *testing.T) {
	m := regexp.MustCompile("fails at `stored object`:\\s+`([^`]+)`").FindStringSubmatch(readme(t))
	if m == nil {
		t.Fatal("README: no example of a block that fails at stored object")
	}
	parts := strings.Split(m[1], "…")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	example := regexp.MustCompile("^" + strings.Join(parts, ".+") + "$")

	c := buildChain(t, 3, 2)
	rec, err := c.Store.BlockForSeq(1)
	if err != nil {
		t.Fatal(err)
	}
	path := c.Storage.Path(rec.ObjectHash)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	rep := c.verifier(c.Owner).Reading(context.Background(), 1)
	if name := failure(t, rep); name != "stored object" {
		t.Fatalf("failing check %q, want stored object", name)
	}
	got := rep.Checks[len(rep.Checks)-1].Detail
	if !example.MatchString(got) {
		t.Fatalf("verify prints\n  %s\nthe README says\n  %s", got, m[1])
	}
	if !strings.HasPrefix(got, "object from fs:") {
		t.Fatalf("the README's example is of a filesystem location; verify printed %q", got)
	}
}
