// Package faultdev provides misbehaving devices for reliability tests: a
// TCP endpoint (for Modbus TCP and OPC UA) and a UDP endpoint (for CoAP)
// that sit in front of a real device and, switchable while the appliance
// runs, pass its traffic through, accept requests and never answer, answer
// garbage, or answer slowly.
//
// Endpoints listen on 127.0.0.1 only and stop when their context ends or
// Close is called, so a test that forgets them still leaves nothing behind.
// Garbage is drawn from a seeded generator: a run can be repeated byte for
// byte.
package faultdev

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how an endpoint treats requests.
type Mode int

const (
	// Pass forwards requests to the real device and its answers back.
	Pass Mode = iota
	// Silent accepts and reads requests and never answers.
	Silent
	// Garbage answers every request with bytes from the endpoint's Garbler.
	Garbage
	// Slow forwards like Pass but holds each answer back by the delay.
	Slow
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Silent:
		return "silent"
	case Garbage:
		return "garbage"
	case Slow:
		return "slow"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// A Garbler makes the garbage answer to one request.
type Garbler func(request []byte, r *rand.Rand) []byte

// RandomBytes answers with 1 to 300 random bytes: nothing a client can parse.
func RandomBytes(_ []byte, r *rand.Rand) []byte {
	b := make([]byte, 1+r.IntN(300))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ModbusTCPFramed answers a Modbus TCP request with a well-framed response
// (the request's transaction id, protocol 0, a correct length, its unit id
// and function code) around random data: it gets past the framing into
// the decoding of register values.
func ModbusTCPFramed(req []byte, r *rand.Rand) []byte {
	if len(req) < 8 {
		return RandomBytes(req, r)
	}
	data := make([]byte, r.IntN(40))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	pdu := append([]byte{req[7], byte(len(data))}, data...)
	out := make([]byte, 7, 7+len(pdu))
	copy(out[0:2], req[0:2]) // transaction id
	binary.BigEndian.PutUint16(out[4:6], uint16(len(pdu)+1))
	out[6] = req[6] // unit id
	return append(out, pdu...)
}

// CoAPFramed answers a CoAP request with a well-formed piggybacked ACK (the
// request's message id and token, 2.05 Content) carrying a random payload:
// it gets past the message layer into the decoding of the representation.
func CoAPFramed(req []byte, r *rand.Rand) []byte {
	if len(req) < 4 {
		return RandomBytes(req, r)
	}
	tkl := int(req[0] & 0x0f)
	if tkl > 8 || len(req) < 4+tkl {
		return RandomBytes(req, r)
	}
	out := []byte{0x60 | byte(tkl), 0x45, req[2], req[3]} // ver 1, ACK, 2.05, message id
	out = append(out, req[4:4+tkl]...)
	payload := make([]byte, 1+r.IntN(64))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	return append(append(out, 0xff), payload...)
}

// Stats counts what an endpoint saw and did.
type Stats struct {
	Accepted uint64 // TCP connections accepted (UDP: distinct clients seen)
	Open     int    // TCP client connections open now
	Requests uint64 // request chunks (TCP reads) or datagrams received from clients
	Answers  uint64 // answer chunks or datagrams sent to clients
}

// state is what TCP and UDP endpoints share: the mode and the counters.
type state struct {
	mu      sync.Mutex
	mode    Mode
	delay   time.Duration
	garbler Garbler
	rng     *rand.Rand

	accepted, requests, answers atomic.Uint64
}

func newState(mode Mode, seed uint64) *state {
	return &state{mode: mode, garbler: RandomBytes, rng: rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

func (s *state) current() (Mode, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode, s.delay
}

func (s *state) garbage(req []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.garbler(req, s.rng)
}
