package pipeline

import (
	"crypto/ed25519"
	"fmt"

	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// signerPollKeys returns the poll keys of whichever of ring (the current
// key first) signed a block's header. The signature decides rather than
// the block's key id, so blocks sealed before ids were recorded are found
// too; each key's tree is made once.
func signerPollKeys(ring []ed25519.PrivateKey) func(*store.BlockRecord) (reading.PollKeys, error) {
	trees := make([]*keytree.Tree, len(ring))
	return func(b *store.BlockRecord) (reading.PollKeys, error) {
		for i, k := range ring {
			if format.VerifyHeaderSig(k.Public().(ed25519.PublicKey), b.Header, b.HeaderSig) != nil {
				continue
			}
			if trees[i] == nil {
				trees[i] = keytree.New(keytree.TreeSecret(k))
			}
			return trees[i], nil
		}
		return nil, fmt.Errorf("block %d was signed by none of the appliance's %d keys (the current one and keys/retired/)", b.Height, len(ring))
	}
}
