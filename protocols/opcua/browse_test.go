package opcua_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/protocols/opcua"
	"github.com/wotchain/wotchain/protocols/opcua/opcuasim"
)

func TestBrowseListsDemoNodes(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	var out bytes.Buffer
	endpoint := strings.Replace(sim.Endpoint(), "opc.tcp://", "opcua://", 1) // the CLI's spelling
	err := opcua.Browse(t.Context(), endpoint, opcua.BrowseOptions{MaxDepth: 2, Timeout: testTimeout, Logger: testLogger(t)}, &out)
	if err != nil {
		t.Fatalf("Browse: %v", err)
	}
	t.Logf("browse output:\n%s", out.String())
	for _, name := range opcuasim.Names() {
		line := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(sim.NodeID(name)) + `\s+\S+\s+Variable\b`)
		if !line.MatchString(out.String()) {
			t.Errorf("no Variable line for %s at depth 1", sim.NodeID(name))
		}
	}

	out.Reset()
	err = opcua.Browse(t.Context(), sim.Endpoint(), opcua.BrowseOptions{
		Root: "nsu=" + opcuasim.NamespaceURI + ";i=85", MaxDepth: 1, NamespaceURIs: true, Timeout: testTimeout,
	}, &out)
	if err != nil {
		t.Fatalf("Browse from the sim's folder: %v", err)
	}
	if want := opcuasim.NodeIDByURI(opcuasim.Temperature); !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %s:\n%s", want, out.String())
	}
}

func TestBrowseFailsClearly(t *testing.T) {
	err := opcua.Browse(t.Context(), "opc.tcp://127.0.0.1:1", opcua.BrowseOptions{Timeout: testTimeout}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Browse of a closed port: err = %v, want one naming the endpoint", err)
	}
	err = opcua.Browse(t.Context(), "http://x", opcua.BrowseOptions{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Fatalf("Browse of http://: err = %v", err)
	}
}
