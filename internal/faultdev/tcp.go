package faultdev

import (
	"context"
	"net"
	"sync"
	"time"
)

// TCP is a misbehaving TCP device (Modbus TCP, OPC UA) in front of the
// real device at Upstream.
type TCP struct {
	*state
	ln       net.Listener
	upstream string

	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// ListenTCP starts a TCP endpoint on 127.0.0.1 (a free port) in mode, in
// front of upstream (host:port; may be empty when the mode never passes).
// It stops when ctx ends or Close is called.
func ListenTCP(ctx context.Context, upstream string, mode Mode) (*TCP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &TCP{state: newState(mode, 1), ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	context.AfterFunc(ctx, func() { s.Close() })
	return s, nil
}

// Addr is the endpoint's host:port.
func (s *TCP) Addr() string { return s.ln.Addr().String() }

// SetMode switches the endpoint's behaviour. Open connections are cut, as
// when a device is repaired or power-cycled, so every connection sees one
// behaviour from its start.
func (s *TCP) SetMode(m Mode) { s.set(m, 0) }

// SetSlow switches to Slow with each answer held back by d.
func (s *TCP) SetSlow(d time.Duration) { s.set(Slow, d) }

// SetGarbler chooses how garbage answers are made (RandomBytes by default).
func (s *TCP) SetGarbler(g Garbler) {
	s.mu.Lock()
	s.garbler = g
	s.mu.Unlock()
}

func (s *TCP) set(m Mode, d time.Duration) {
	s.mu.Lock()
	s.mode, s.delay = m, d
	s.mu.Unlock()
	s.connMu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.connMu.Unlock()
}

// Stats returns the endpoint's counters.
func (s *TCP) Stats() Stats {
	s.connMu.Lock()
	open := 0
	for c := range s.conns {
		if _, client := c.(*clientConn); client {
			open++
		}
	}
	s.connMu.Unlock()
	return Stats{Accepted: s.accepted.Load(), Open: open, Requests: s.requests.Load(), Answers: s.answers.Load()}
}

// Close stops the endpoint and cuts every connection. It is safe to call
// more than once.
func (s *TCP) Close() error {
	s.connMu.Lock()
	if s.closed {
		s.connMu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.connMu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// clientConn marks the client side of a connection in conns.
type clientConn struct{ net.Conn }

func (s *TCP) track(c net.Conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *TCP) untrack(c net.Conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
	_ = c.Close()
}

func (s *TCP) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.accepted.Add(1)
		client := &clientConn{c}
		if !s.track(client) {
			_ = c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(client)
			s.handle(client)
		}()
	}
}

func (s *TCP) handle(client net.Conn) {
	mode, delay := s.current()
	switch mode {
	case Silent, Garbage:
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				s.requests.Add(1)
				if mode == Garbage {
					if _, err := client.Write(s.garbage(buf[:n])); err != nil {
						return
					}
					s.answers.Add(1)
				}
			}
			if err != nil {
				return
			}
		}
	default: // Pass, Slow
		s.forward(client, delay)
	}
}

// forward pipes client <-> upstream, holding each answer chunk back by
// delay from the moment it arrived from upstream.
func (s *TCP) forward(client net.Conn, delay time.Duration) {
	up, err := net.DialTimeout("tcp", s.upstream, 5*time.Second)
	if err != nil {
		return // the client sees its connection closed, as with a device that resets it
	}
	if !s.track(up) {
		_ = up.Close()
		return
	}
	defer s.untrack(up)

	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				s.requests.Add(1)
				if _, werr := up.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = up.Close()
	}()

	type chunk struct {
		data []byte
		at   time.Time
	}
	chunks := make(chan chunk, 64)
	go func() {
		defer close(chunks)
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				chunks <- chunk{append([]byte(nil), buf[:n]...), time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		if wait := time.Until(c.at.Add(delay)); wait > 0 {
			time.Sleep(wait)
		}
		if _, err := client.Write(c.data); err != nil {
			break
		}
		s.answers.Add(1)
	}
	_ = client.Close()
	_ = up.Close()
	for range chunks { // let the reader finish
	}
	<-done
}
