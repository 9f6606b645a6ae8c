package wire

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wotchain/wotchain/chaincode/rules"
)

func TestRoundTrip(t *testing.T) {
	for _, c := range codes {
		t.Run(c.code, func(t *testing.T) {
			orig := fmt.Errorf("%w: appliance a1 block 3", c.err)
			// As a gateway reports it: wrapped in the peer's text, with details after.
			text := "endorse error: rpc error: code = Aborted desc = failed\n    Message: chaincode response 500, " + Message(orig) + "\n  - Address: x"
			got := Decode(text)
			if got == nil {
				t.Fatalf("Decode(%q) = nil", text)
			}
			if !errors.Is(got, c.err) {
				t.Errorf("errors.Is(%v, %v) = false", got, c.err)
			}
			if got.Message != orig.Error() {
				t.Errorf("message %q, want %q", got.Message, orig.Error())
			}
		})
	}
}

func TestInternalAndUntagged(t *testing.T) {
	got := Decode(Message(errors.New("disk on fire")))
	if got == nil || got.Code != Internal || errors.Unwrap(got) != nil {
		t.Fatalf("internal error decoded as %#v", got)
	}
	if Decode("rpc error: code = Unavailable") != nil {
		t.Fatal("untagged text decoded as a contract error")
	}
	// Unknown appliance must not be reported as the broader not-found.
	if Code(fmt.Errorf("%w: a1", rules.ErrUnknownAppliance)) != "unknown-appliance" {
		t.Fatal("unknown appliance mis-coded")
	}
}
