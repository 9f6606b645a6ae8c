package keytree

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/wotchain/wotchain/chaincode/format"
)

// wireNode is a node of an encoded key set: {1: device, 2: level, 3: index, 4: key}.
type wireNode struct {
	Device string `cbor:"1,keyasint"`
	Level  uint8  `cbor:"2,keyasint"`
	Index  uint64 `cbor:"3,keyasint"`
	Key    []byte `cbor:"4,keyasint"`
}

// EncodeKeySet encodes a key set (what a recipient entry or a delivery
// wraps): a canonical CBOR array of nodes sorted by device, then by first
// poll. nodes may come in any order; it refuses an invalid node, an empty
// or non-UTF-8 device id, and overlapping or repeated nodes.
func EncodeKeySet(nodes []Node) ([]byte, error) {
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, compareNodes)
	if err := checkSorted(sorted); err != nil {
		return nil, fmt.Errorf("keytree: encode key set: %w", err)
	}
	wire := make([]wireNode, len(sorted)) // never nil: an empty set is an empty array, not null
	for i, n := range sorted {
		if n.Device == "" || !utf8.ValidString(n.Device) {
			return nil, fmt.Errorf("keytree: encode key set: node %d: device id %q is empty or not UTF-8", i, n.Device)
		}
		wire[i] = wireNode{Device: n.Device, Level: n.Level, Index: n.Index, Key: n.Key[:]}
	}
	b, err := format.Marshal(wire)
	if err != nil {
		return nil, fmt.Errorf("keytree: encode key set: %w", err)
	}
	return b, nil
}

// ParseKeySet parses an encoded key set. It refuses anything EncodeKeySet
// would not have produced byte for byte: a level > 40, an index >= 2^level,
// a key that is not 32 bytes, an empty device id, nodes out of order,
// overlapping or repeated, unknown or missing fields, non-canonical CBOR.
func ParseKeySet(data []byte) ([]Node, error) {
	var wire []wireNode
	if err := format.Unmarshal(data, &wire); err != nil {
		return nil, fmt.Errorf("keytree: parse key set: %w", err)
	}
	nodes := make([]Node, len(wire))
	for i, w := range wire {
		if len(w.Key) != 32 {
			return nil, fmt.Errorf("keytree: parse key set: node %d: key has %d bytes, want 32", i, len(w.Key))
		}
		if w.Device == "" {
			return nil, fmt.Errorf("keytree: parse key set: node %d: no device id", i)
		}
		nodes[i] = Node{Device: w.Device, Level: w.Level, Index: w.Index, Key: [32]byte(w.Key)}
	}
	if err := checkSorted(nodes); err != nil {
		return nil, fmt.Errorf("keytree: parse key set: %w", err)
	}
	again, err := EncodeKeySet(nodes)
	if err != nil {
		return nil, fmt.Errorf("keytree: parse key set: %w", err)
	}
	if !bytes.Equal(again, data) {
		return nil, errNotCanonical
	}
	return nodes, nil
}

var errNotCanonical = errors.New("keytree: parse key set: not the canonical encoding of its nodes")
