package seal

import (
	"fmt"
	"slices"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// sealOneV2 seals v2 polls into a v2 block: the header commits to the
// block root over the polls' roots (signed at ingest over their salted
// leaves), each poll becomes a section under its own section key, and the
// recipients get the block's full key set: per device, the cover of its
// polls in the block.
func (s *Sealer) sealOneV2(height uint64, prev []byte, polls []pollRange) (*store.BlockRecord, error) {
	first, last := polls[0].first, polls[len(polls)-1].last
	raw, err := s.st.Readings(first, last)
	if err != nil {
		return nil, fmt.Errorf("seal block %d: %w", height, err)
	}
	if s.tree == nil {
		if s.codec, err = envelope.NewCodec(); err != nil {
			return nil, fmt.Errorf("seal block %d: %w", height, err)
		}
		s.tree = keytree.New(keytree.TreeSecret(s.key))
	}
	h := &format.Header{
		Version: format.HeaderV2, ApplianceID: s.applianceID, Height: height, PrevHash: prev,
		FirstSeq: first, LastSeq: last, Count: last - first + 1, SealedAt: s.now().UnixNano(),
		Polls: uint64(len(polls)),
	}
	inputs := make([]envelope.PollInput, len(polls))
	roots := make([][]byte, len(polls))
	indices := map[string][]uint64{}
	for k, pr := range polls {
		p := pr.poll
		if p.PollIndex >= keytree.MaxPolls {
			return nil, fmt.Errorf("seal block %d: poll %d..%d of %q has index %d beyond the key tree", height, p.FirstSeq, p.LastSeq, p.DeviceID, p.PollIndex)
		}
		// Two polls with one index would share a section key: refuse, as
		// the reader does (a device's indices rise through its polls).
		if ix := indices[p.DeviceID]; len(ix) > 0 && p.PollIndex <= ix[len(ix)-1] {
			return nil, fmt.Errorf("seal block %d: poll index %d of %q after %d", height, p.PollIndex, p.DeviceID, ix[len(ix)-1])
		}
		indices[p.DeviceID] = append(indices[p.DeviceID], p.PollIndex)
		readings := raw[p.FirstSeq-first : p.LastSeq-first+1]
		t, err := pollTime(readings, p)
		if err != nil {
			return nil, fmt.Errorf("seal block %d: %w", height, err)
		}
		if k == 0 || t < h.FirstTime {
			h.FirstTime = t
		}
		if k == 0 || t > h.LastTime {
			h.LastTime = t
		}
		roots[k] = p.PollRoot
		inputs[k] = envelope.PollInput{Record: pr.record, SectionKey: keytree.SectionKey(s.tree.PollKey(p.DeviceID, p.PollIndex)), Readings: readings}
	}
	var keySet []keytree.Node
	for d, ix := range indices {
		h.Devices = append(h.Devices, d)
		keySet = append(keySet, s.tree.Cover(d, ix)...)
	}
	slices.Sort(h.Devices)
	if h.MerkleRoot, err = reading.BlockRoot(roots); err != nil {
		return nil, fmt.Errorf("seal block %d: %w", height, err)
	}
	ks, err := keytree.EncodeKeySet(keySet)
	if err != nil {
		return nil, fmt.Errorf("seal block %d: %w", height, err)
	}
	hb, err := h.Encode()
	if err != nil {
		return nil, err
	}
	sig := format.SignHeader(s.key, hb)
	obj, err := s.codec.SealV2(hb, sig, ks, inputs, s.recipients)
	if err != nil {
		return nil, fmt.Errorf("seal block %d: %w", height, err)
	}
	return s.commit(h, hb, sig, obj)
}

// pollTime returns the appliance time of a v2 poll's readings, checking
// with the cheap scan that they all have it and the poll's device (ingest
// makes them so; block.OpenV2 checks every reading in full).
func pollTime(readings [][]byte, p *reading.PollRecord) (int64, error) {
	var t int64
	for j, b := range readings {
		device, at, err := readSummary(b)
		if err != nil {
			return 0, fmt.Errorf("reading %d: %w", p.FirstSeq+uint64(j), err)
		}
		if string(device) != p.DeviceID {
			return 0, fmt.Errorf("reading %d is from %q but its poll is from %q", p.FirstSeq+uint64(j), device, p.DeviceID)
		}
		if j == 0 {
			t = at
		} else if at != t {
			return 0, fmt.Errorf("reading %d: appliance time differs within v2 poll %d..%d", p.FirstSeq+uint64(j), p.FirstSeq, p.LastSeq)
		}
	}
	return t, nil
}
