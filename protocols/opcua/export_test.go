package opcua

// Buffered reports how many subscription values wait for the next Poll, so
// tests can wait for a delivery instead of sleeping.
func (s *Source) Buffered() int { return s.buffer.len() }
