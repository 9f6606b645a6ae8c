// Package publish sends every stored reading to an MQTT broker (MQTT 3.1.1,
// QoS 1), in sequence order, with store-and-forward: the store is the
// queue, and the store cursor "publish/<name>" holds the last sequence the
// broker acknowledged. While the broker is unreachable, readings keep being
// stored; after it returns, publishing resumes after the last acknowledged
// reading, without gaps.
//
// # Delivery
//
// At least once. Messages are published strictly in sequence order on one
// connection, at most max_inflight unacknowledged; acknowledgements are
// consumed in order, so the cursor only covers a gap-free prefix. When a
// connection fails, everything after the acknowledged position is sent
// again, so a subscriber can receive a reading twice, but never a later
// reading of a point before an earlier one it has not yet received:
// subscribers drop a message whose seq is not greater than the last seq they
// kept for that topic (or keep a set of seen seqs).
//
// Readings deleted locally before they were published (retention of
// anchored blocks, or the disk budget's drop_oldest_unanchored) cannot be
// published: the publisher passes over their block with a warning and
// counts them in Stats.Skipped. Keep retention longer than a broker outage
// can last.
//
// # Topic
//
// The template's {appliance}, {device} and {point} are replaced; a point
// name with '/' spans several topic levels (aggregates, named
// "<point>/<window>/<stat>", land under their point), and '+' or '#' in a
// name becomes '_'.
//
// # Payload
//
// JSON (see Message):
//
//	{"seq":42,"appliance":"plant-1","device":"boiler-1","point":"temperature",
//	 "value":71.5,"type":"float","unit":"degC","quality":"good",
//	 "time":"2026-01-02T03:04:05.123456789Z",
//	 "leaf_hash":"9f2c…","salt":"5be0…","canonical":"qQFn…"}
//
// A status record (point "$status", bridge/devstatus: polls failing, the
// device paused, the appliance stopped, ...) is published like a reading
// with "status": true; its value names the state and "reason" the detail.
// Subscribers that want measurements only drop those messages.
//
// "canonical" is the reading's canonical CBOR encoding (base64), the bytes
// the appliance signed and sealed. "leaf_hash" is the reading's RFC 6962
// Merkle leaf, hex: for a reading of a v2 poll (block format v2, what the
// appliance writes) SHA-256(0x00 || salt || canonical), with "salt" the
// reading's 16-byte salt in hex; for a reading of a v1 poll (stored before
// the upgrade) SHA-256(0x00 || canonical), without "salt". The salt is
// derived from the poll's key, which the subscriber does not have: the
// message carries it so that the subscriber can still prove the reading.
// Decode with json.Decoder.UseNumber when int values may exceed 2^53.
//
// # Verifying a message
//
//  1. Message.Verify (or by hand: base64-decode "canonical", hash it with
//     the salt as above, compare with "leaf_hash", and decode the CBOR to
//     check the JSON fields) proves the JSON says what the canonical bytes
//     say.
//  2. The canonical bytes are proven against the ledger as any reading is:
//     `wotchain verify --seq <seq>` on the appliance, or, for a partner
//     holding the block, the inclusion proof of "leaf_hash" must lead to
//     the Merkle root in the block header whose hash the ledger anchored
//     (v2: through the poll's root, which the poll signature covers;
//     bridge/verify does both). A reading is verifiable once its block is
//     sealed and anchored, typically within seal.interval of its time.
package publish
