package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/wotchain/wotchain/"

// rule says which of the module's packages a folder's packages may import.
// Imports outside the module (standard library, third-party) are not its
// concern, except for leaves, which may import no package of the module.
type rule struct {
	from  string   // package path prefix, relative to the module
	allow []string // prefixes it may import from the module; nil: none
	why   string
}

// layers is docs/ARCHITECTURE.md's table, checked. The first rule whose
// prefix matches a package applies, so the specific come first.
var layers = []rule{
	{"chaincode/format", nil, "the consensus formats are a leaf: the ledger judges them, the bridge writes them"},
	{"chaincode/", []string{"chaincode/"}, "the contract runs on peers of other organisations and must not depend on the appliance"},
	{"fabric/netdesc", nil, "clients read the network description without the launcher"},
	{"fabric/", []string{"fabric/", "chaincode/"}, "the Fabric tooling and client know the contract, not the appliance"},
	{"protocols/", []string{"protocols/", "internal/secret", "internal/yamltime"}, "protocols hand samples to the pipeline and know nothing of it"},
	{"bridge/devstatus", []string{"protocols"}, "the status records' vocabulary: emitters and readers of status records share it, it depends on none of them"},
	{"bridge/proof", []string{"bridge/merkle", "bridge/reading", "chaincode/format", "chaincode/rules"}, "the offline check of a proof bundle compiles to WebAssembly: no store, no cgo, no I/O"},
	{"bridge/gaps", []string{"bridge/devstatus"}, "gap finding is pure: records in, gaps out, no store"},
	{"bridge/", []string{"bridge/", "chaincode/format", "chaincode/rules", "protocols", "internal/secret", "internal/yamltime", "internal/durable"}, "the bridge is built from values: no appliance configuration, no Fabric"},
	{"bench", []string{"bench", "bridge/", "chaincode/format", "chaincode/rules", "protocols", "internal/testserver/launch", "internal/durable"}, "bench measures the bridge packages themselves"},
	{"internal/testserver", []string{"internal/testserver", "fabric/"}, "test launchers"},
	{"internal/", nil, "small helpers with no place in the product's layers"},
	{"appliance/cmd/verifywasm", []string{"bridge/proof", "bridge/reading", "chaincode/format", "chaincode/rules"}, "the partner's offline verifier is bridge/proof in a browser: nothing that needs cgo"},
	{"appliance/daemon", []string{"appliance/", "bridge/", "chaincode/", "protocols", "fabric/fabricledger", "fabric/netdesc"}, "the daemon wires; it reads the network description, never the launcher"},
	{"appliance/", []string{"appliance/", "bridge/", "chaincode/", "protocols", "fabric/fabricledger", "fabric/netdesc", "fabric/network", "bench", "internal/"}, "the appliance is the top"},
}

// testOnly are what tests may import beyond their package's layer: the
// test servers and fakes, and what a test needs to check its package's
// output the way the pipeline will read it.
var testOnly = []string{
	"internal/testserver", "protocols/fieldtest", "protocols/protocolstest",
	"bridge/normalise", "bridge/reading", // protocols' fuzz tests: a sample must survive normalisation and encoding
	"appliance/config",               // bench's test loads the shipped configurations it compares with
	"bench",                          // go test -bench targets report against bench's same-run baselines
	"bridge/ledger", "bridge/outbox", // fabricledger's tests drive the outbox on a real peer, beside the embedded ledger
}

func TestLayers(t *testing.T) {
	code, tests := moduleImports(t)
	if len(code) < 40 {
		t.Fatalf("go list found %d packages; the module has more", len(code))
	}
	for pkg, deps := range code {
		r, ok := ruleFor(pkg)
		if !ok {
			continue // packaging, the module root: nothing imports them
		}
		for _, dep := range deps {
			if !allowed(r, pkg, dep) {
				t.Errorf("%s imports %s: %s", pkg, dep, r.why)
			}
		}
		for _, dep := range tests[pkg] {
			if !allowed(r, pkg, dep) && !allowed(rule{allow: testOnly}, pkg, dep) {
				t.Errorf("%s's tests import %s: %s", pkg, dep, r.why)
			}
		}
	}
}

// TestLayersCatchAWrongImport checks the checker: the import this issue
// removed (chaincode/rules importing bridge/block) is refused.
func TestLayersCatchAWrongImport(t *testing.T) {
	for _, c := range []struct{ pkg, dep string }{
		{"chaincode/rules", "bridge/block"},
		{"chaincode/format", "bridge/reading"},
		{"bridge/seal", "appliance/config"},
		{"bench", "appliance/config"},
		{"appliance/daemon", "fabric/network"},
		{"appliance/cmd/verifywasm", "bridge/verify"},
		{"protocols/modbus", "bridge/reading"},
		{"bridge/gaps", "bridge/store"},
		{"bridge/proof", "bridge/store"},
	} {
		r, ok := ruleFor(c.pkg)
		if !ok || allowed(r, c.pkg, c.dep) {
			t.Errorf("%s importing %s is allowed", c.pkg, c.dep)
		}
	}
	if r, _ := ruleFor("bridge/seal"); !allowed(r, "bridge/seal", "chaincode/format") {
		t.Error("bridge/seal may not import chaincode/format")
	}
}

func ruleFor(pkg string) (rule, bool) {
	for _, r := range layers {
		if pkg == strings.TrimSuffix(r.from, "/") || strings.HasPrefix(pkg, r.from) {
			return r, true
		}
	}
	return rule{}, false
}

func allowed(r rule, pkg, dep string) bool {
	if dep == pkg || strings.HasPrefix(dep, pkg+"/") {
		return true // a package's own sub-packages (pipeline/pipelinetest, modbus/modbussim)
	}
	for _, a := range r.allow {
		if dep == strings.TrimSuffix(a, "/") || strings.HasPrefix(dep, a) {
			return true
		}
	}
	return false
}

// moduleImports lists, for every package of the module, the module's
// packages its code imports and those its tests import (in-package and
// external tests).
func moduleImports(t *testing.T) (code, tests map[string][]string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} | {{join .TestImports " "}} {{join .XTestImports " "}}`, module+"...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	code, tests = map[string][]string{}, map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(f[0], module)
		into := code
		code[pkg] = nil
		for _, dep := range f[1:] {
			switch {
			case dep == "|":
				into = tests
			case strings.HasPrefix(dep, module):
				into[pkg] = append(into[pkg], strings.TrimPrefix(dep, module))
			}
		}
	}
	return code, tests
}
