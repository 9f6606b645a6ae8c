package store

import "fmt"

var metaSigningKey = []byte("signing_key_id")

// SigningKeyID is the id of the key the appliance signs with, as the store
// last recorded it (the first start, then each rotation), or "" when never
// recorded (a store from before key ids were kept).
func (s *Store) SigningKeyID() (string, error) {
	v, err := s.get(cfMeta, metaSigningKey)
	if IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("signing key id: %w", err)
	}
	return string(v), nil
}

// SetSigningKeyID durably records the id of the signing key.
func (s *Store) SetSigningKeyID(id string) error {
	b := s.newBatch()
	b.put(cfMeta, metaSigningKey, []byte(id))
	return b.commit()
}

// HoldsData reports whether the store holds readings or blocks: a store
// that does not is a first start.
func (s *Store) HoldsData() (bool, error) {
	next, err := s.NextSeq()
	if err != nil {
		return false, err
	}
	if next > 1 {
		return true, nil
	}
	_, err = s.LastBlock()
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}
