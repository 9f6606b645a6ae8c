package opcua

import (
	"strings"
	"testing"
)

func TestNodeRefResolve(t *testing.T) {
	namespaces := []string{"http://opcfoundation.org/UA/", "urn:spare", "urn:vendor:plant"}
	tests := []struct {
		in, want string
	}{
		{"i=85", "i=85"},
		{"ns=1;s=Boiler.Temperature", "ns=1;s=Boiler.Temperature"},
		{"nsu=urn:vendor:plant;s=Temp", "ns=2;s=Temp"},
		{"nsu=urn:vendor:plant;i=5001", "ns=2;i=5001"},
		{"nsu=http://opcfoundation.org/UA/;i=2253", "i=2253"},
		{"ns=1;s=With;Semicolon", "ns=1;s=With;Semicolon"},
		{"nsu=urn:vendor:plant;s=A;B", "ns=2;s=A;B"},
	}
	for _, tt := range tests {
		ref, err := parseNodeRef(tt.in)
		if err != nil {
			t.Errorf("parse %q: %v", tt.in, err)
			continue
		}
		id, err := ref.resolve(namespaces)
		if err != nil || id.String() != tt.want {
			t.Errorf("resolve %q = %v, %v; want %s", tt.in, id, err, tt.want)
		}
	}

	ref, err := parseNodeRef("nsu=urn:elsewhere;s=Temp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ref.resolve(namespaces); err == nil || !strings.Contains(err.Error(), "urn:elsewhere") {
		t.Fatalf("unknown namespace: err = %v", err)
	}
}

func TestNodeRefInvalid(t *testing.T) {
	for _, s := range []string{"Boiler.Temp", "ns=1;S=Temp", "ns=x;s=Temp", "nsu=;s=Temp", "nsu=urn:x;Temp", "nsu=urn:x;g=not-a-guid", "ns=1;q=1"} {
		if _, err := parseNodeRef(s); err == nil {
			t.Errorf("parseNodeRef(%q) succeeded, want an error", s)
		}
	}
}

func TestURIForm(t *testing.T) {
	namespaces := []string{"http://opcfoundation.org/UA/", "urn:vendor:plant"}
	for in, want := range map[string]string{
		"ns=1;s=Temp": "nsu=urn:vendor:plant;s=Temp",
		"ns=1;i=7":    "nsu=urn:vendor:plant;i=7",
		"i=85":        "i=85",
		"ns=5;i=1":    "ns=5;i=1", // index unknown to the server: keep it
	} {
		ref, err := parseNodeRef(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := uriForm(ref.id, namespaces); got != want {
			t.Errorf("uriForm(%s) = %s, want %s", in, got, want)
		}
	}
}
