package pipeline

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
)

// The publisher's poll keys for a sealed block are those of the key that
// signed it, current or retired; a block no key of the ring signed is an
// error, not a guess.
func TestSignerPollKeys(t *testing.T) {
	c := pipelinetest.New(t, pipelinetest.WithFormat(2))
	c.Ingest(t, 3)
	blocks := c.Seal(t)
	if len(blocks) == 0 {
		t.Fatal("nothing sealed")
	}
	_, current, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := keytree.New(keytree.TreeSecret(c.Key)).PollKey("dev", 7)
	keys, err := signerPollKeys([]ed25519.PrivateKey{current, c.Key})(blocks[0])
	if err != nil {
		t.Fatal(err)
	}
	if keys.PollKey("dev", 7) != want {
		t.Fatal("the poll keys are not those of the key that signed the block")
	}
	if _, err := signerPollKeys([]ed25519.PrivateKey{current})(blocks[0]); err == nil || !strings.Contains(err.Error(), "none of the appliance's") {
		t.Fatalf("a block signed by no key of the ring: %v", err)
	}
}
