// Package keytree derives the keys of block format v2 (issue #18): one GGM
// tree of HMAC-SHA256 per device, whose leaf p is the key of the device's
// p-th poll, and the covers and key sets that hand out the keys of a set of
// polls.
//
// What a node reveals: the key of node (level l, index i) is the root of the
// subtree over leaves [i*2^(40-l), (i+1)*2^(40-l)-1], and from it anyone
// derives the keys of exactly those polls, and nothing else. A child is
// HMAC(parent key, [bit]); HMAC is one-way, so a node gives its descendants
// only: not its parent, not its sibling, not another device's tree (each
// device's root is a separate HMAC of the tree secret). That is the GGM
// construction, and it is why a grant of any set of polls can be delivered
// as a few nodes (the cover) while revealing exactly that set.
//
// The tree secret is derived from the appliance's Ed25519 seed, so whoever
// can sign the appliance's polls can derive their keys, and nobody else can.
package keytree

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"math/bits"
	"sync"
)

// Depth is the depth of every device's tree: leaves are at level Depth.
const Depth = 40

// MaxPolls is the number of leaves of a device's tree: poll indices are
// below it. Ingest must never number a device's poll MaxPolls (2^40 polls:
// 35 years at 1,000 polls a second).
const MaxPolls uint64 = 1 << Depth

// Domain strings of the derivations (V2-SPEC section 1).
const (
	treeInfo      = "wotchain/v2/key-tree"
	deviceDomain  = "wotchain/v2/device\x00"
	saltDomain    = "wotchain/v2/salt\x00"
	sectionDomain = "wotchain/v2/section"
)

// Node is one node of a device's key tree with its key: it opens the polls
// Index*2^(Depth-Level) .. (Index+1)*2^(Depth-Level)-1 of Device.
type Node struct {
	Device string
	Level  uint8
	Index  uint64
	Key    [32]byte
}

// First and Last are the first and last poll index the node covers. They
// are meaningful only for a valid node (Level <= Depth, Index < 2^Level).
func (n Node) First() uint64 { return n.Index << (Depth - n.Level) }

// Last: see First.
func (n Node) Last() uint64 { return n.First() + (1 << (Depth - n.Level)) - 1 }

func (n Node) valid() bool { return n.Level <= Depth && n.Index < 1<<n.Level }

// TreeSecret derives the key tree's secret from the appliance's signing key:
// HKDF-SHA256 over its 32-byte seed, empty salt, info "wotchain/v2/key-tree".
// Like ed25519.Sign, it panics on a key of the wrong length.
func TreeSecret(signing ed25519.PrivateKey) [32]byte {
	if len(signing) != ed25519.PrivateKeySize {
		panic(fmt.Sprintf("keytree: signing key has %d bytes, want %d", len(signing), ed25519.PrivateKeySize))
	}
	k, err := hkdf.Key(sha256.New, signing.Seed(), nil, treeInfo, 32)
	if err != nil {
		panic("keytree: hkdf: " + err.Error()) // 32 bytes of SHA-256 output: cannot fail
	}
	return [32]byte(k)
}

// deviceRoot is K(d, 0, 0) = HMAC(S, "wotchain/v2/device" || 0x00 || d).
func deviceRoot(secret [32]byte, device string) [32]byte {
	m := hmac.New(sha256.New, secret[:])
	m.Write([]byte(deviceDomain))
	m.Write([]byte(device))
	return [32]byte(m.Sum(nil))
}

// mac is HMAC-SHA256 (RFC 2104) of msg under a 32-byte key.
func mac(key *[32]byte, msg []byte) [32]byte {
	h := hmac.New(sha256.New, key[:])
	h.Write(msg)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// child is K(l+1, 2i+b) from K(l, i).
func child(parent *[32]byte, b uint64) [32]byte {
	return mac(parent, []byte{byte(b & 1)})
}

// descend derives the node (level, index) from its ancestor (from, index >>
// (level-from)) with key k.
func descend(k [32]byte, from, level uint8, index uint64) [32]byte {
	for l := from; l < level; l++ {
		k = child(&k, index>>(level-l-1))
	}
	return k
}

// Salt is the salt of the poll's j-th reading (j = seq - first seq):
// the first 16 bytes of HMAC(P, "wotchain/v2/salt" || 0x00 || BE64(j)).
func Salt(pollKey [32]byte, j uint64) [16]byte { return NewSalts(pollKey).Salt(j) }

// Salts derives the salts of one poll's readings with one HMAC state,
// reset between readings: a poll of n readings costs one HMAC set-up, not n.
// It is for one goroutine.
type Salts struct {
	h   hash.Hash
	msg [len(saltDomain) + 8]byte
	sum [sha256.Size]byte
}

// NewSalts returns the salts of the poll with key pollKey.
func NewSalts(pollKey [32]byte) *Salts {
	s := &Salts{h: hmac.New(sha256.New, pollKey[:])}
	copy(s.msg[:], saltDomain)
	return s
}

// Salt is the salt of the poll's j-th reading.
func (s *Salts) Salt(j uint64) [16]byte {
	binary.BigEndian.PutUint64(s.msg[len(saltDomain):], j)
	s.h.Reset()
	s.h.Write(s.msg[:])
	return [16]byte(s.h.Sum(s.sum[:0])[:16])
}

// SectionKey is the AES-256-GCM key of the poll's section:
// HMAC(P, "wotchain/v2/section").
func SectionKey(pollKey [32]byte) [32]byte {
	return mac(&pollKey, []byte(sectionDomain))
}

// Tree derives the nodes of every device's tree from one tree secret. It
// keeps, per device, the path to the last node it derived, so that the keys
// of consecutive polls cost about two HMACs each instead of 40. It is safe
// for concurrent use, as ingest prepares polls in their callers'
// goroutines: polls of different devices derive in parallel, one device's
// derivations are serialised by a lock of its own. It holds about 1.4 KB
// per device it has seen.
type Tree struct {
	secret [32]byte

	mu    sync.Mutex
	paths map[string]*path
}

// New returns the tree of a secret (see TreeSecret).
func New(secret [32]byte) *Tree {
	return &Tree{secret: secret, paths: make(map[string]*path)}
}

// path is the cached path of one device: keys[l] is the key of node
// (l, leaf >> (Depth-l)) for every l <= depth.
type path struct {
	mu    sync.Mutex
	leaf  uint64 // first leaf of the deepest cached node
	depth uint8
	keys  [Depth + 1][32]byte
	hmacs uint64 // child derivations done, for the cost test
}

func (t *Tree) path(device string) *path {
	t.mu.Lock()
	defer t.mu.Unlock()
	pa := t.paths[device]
	if pa == nil {
		pa = &path{}
		pa.keys[0] = deviceRoot(t.secret, device)
		t.paths[device] = pa
	}
	return pa
}

// node returns the key of (level, index), starting from the deepest cached
// ancestor and leaving the path to it cached. The caller holds pa.mu.
func (pa *path) node(level uint8, index uint64) [32]byte {
	first := index << (Depth - level)
	common := uint8(Depth - bits.Len64(first^pa.leaf)) // deepest level shared by both paths
	c := min(pa.depth, level, common)
	for l := c; l < level; l++ {
		pa.keys[l+1] = child(&pa.keys[l], index>>(level-l-1))
	}
	pa.hmacs += uint64(level - c)
	pa.leaf, pa.depth = first, level
	return pa.keys[level]
}

// PollKey is the key of the device's p-th poll (p from 0), K(d, 40, p). It
// panics if p >= MaxPolls: poll indices come from ingest, which never
// numbers that far.
func (t *Tree) PollKey(device string, p uint64) [32]byte {
	if p >= MaxPolls {
		panic(fmt.Sprintf("keytree: poll index %d of device %q is beyond the tree (%d leaves)", p, device, MaxPolls))
	}
	pa := t.path(device)
	pa.mu.Lock()
	defer pa.mu.Unlock()
	return pa.node(Depth, p)
}

// Cover returns the minimal set of nodes of the device's tree whose leaf
// ranges exactly partition the set of polls (the maximal aligned subtrees of
// each maximal run), sorted by first poll. polls need not be sorted or
// contiguous; duplicates are ignored. It returns nil for no polls, and
// panics on a poll index >= MaxPolls (see PollKey).
func (t *Tree) Cover(device string, polls []uint64) []Node {
	ps := sortedSet(polls)
	if len(ps) == 0 {
		return nil
	}
	if ps[len(ps)-1] >= MaxPolls {
		panic(fmt.Sprintf("keytree: poll index %d of device %q is beyond the tree (%d leaves)", ps[len(ps)-1], device, MaxPolls))
	}
	spans := cover(ps)
	pa := t.path(device)
	pa.mu.Lock()
	defer pa.mu.Unlock()
	nodes := make([]Node, len(spans))
	for i, s := range spans {
		nodes[i] = Node{Device: device, Level: s.level, Index: s.index, Key: pa.node(s.level, s.index)}
	}
	return nodes
}
