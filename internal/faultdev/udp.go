package faultdev

import (
	"context"
	"net"
	"sync"
	"time"
)

// UDP is a misbehaving UDP device (CoAP) in front of the real device at
// Upstream. In Pass and Slow it relays each client's datagrams through a
// socket of its own, so the device's answers find their way back.
type UDP struct {
	*state
	conn     *net.UDPConn
	upstream *net.UDPAddr

	relayMu sync.Mutex
	relays  map[string]*net.UDPConn // client address -> socket towards upstream
	closed  bool
	wg      sync.WaitGroup
}

// ListenUDP starts a UDP endpoint on 127.0.0.1 (a free port) in mode, in
// front of upstream (host:port; may be empty when the mode never passes).
// It stops when ctx ends or Close is called.
func ListenUDP(ctx context.Context, upstream string, mode Mode) (*UDP, error) {
	var up *net.UDPAddr
	if upstream != "" {
		var err error
		if up, err = net.ResolveUDPAddr("udp", upstream); err != nil {
			return nil, err
		}
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	s := &UDP{state: newState(mode, 2), conn: c, upstream: up, relays: map[string]*net.UDPConn{}}
	s.wg.Add(1)
	go s.serve()
	context.AfterFunc(ctx, func() { s.Close() })
	return s, nil
}

// Addr is the endpoint's host:port.
func (s *UDP) Addr() string { return s.conn.LocalAddr().String() }

// SetMode switches the endpoint's behaviour from the next datagram on.
func (s *UDP) SetMode(m Mode) {
	s.mu.Lock()
	s.mode, s.delay = m, 0
	s.mu.Unlock()
}

// SetSlow switches to Slow with each answer held back by d.
func (s *UDP) SetSlow(d time.Duration) {
	s.mu.Lock()
	s.mode, s.delay = Slow, d
	s.mu.Unlock()
}

// SetGarbler chooses how garbage answers are made (RandomBytes by default).
func (s *UDP) SetGarbler(g Garbler) {
	s.mu.Lock()
	s.garbler = g
	s.mu.Unlock()
}

// Stats returns the endpoint's counters.
func (s *UDP) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Requests: s.requests.Load(), Answers: s.answers.Load()}
}

// Close stops the endpoint. It is safe to call more than once.
func (s *UDP) Close() error {
	s.relayMu.Lock()
	if s.closed {
		s.relayMu.Unlock()
		return nil
	}
	s.closed = true
	for _, r := range s.relays {
		_ = r.Close()
	}
	s.relayMu.Unlock()
	err := s.conn.Close()
	s.wg.Wait()
	return err
}

func (s *UDP) serve() {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		s.requests.Add(1)
		req := append([]byte(nil), buf[:n]...)
		switch mode, _ := s.current(); mode {
		case Silent:
		case Garbage:
			if _, err := s.conn.WriteToUDP(s.garbage(req), from); err == nil {
				s.answers.Add(1)
			}
		default:
			if r := s.relay(from); r != nil {
				_, _ = r.Write(req)
			}
		}
	}
}

// relay returns the socket that carries from's datagrams to upstream,
// starting the goroutine that carries the answers back.
func (s *UDP) relay(from *net.UDPAddr) *net.UDPConn {
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	if s.closed || s.upstream == nil {
		return nil
	}
	key := from.String()
	if r, ok := s.relays[key]; ok {
		return r
	}
	r, err := net.DialUDP("udp", nil, s.upstream)
	if err != nil {
		return nil
	}
	s.accepted.Add(1)
	s.relays[key] = r
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			if err != nil {
				if s.isClosed() {
					return
				}
				time.Sleep(10 * time.Millisecond) // e.g. ICMP port unreachable while the device is down
				continue
			}
			answer := append([]byte(nil), buf[:n]...)
			_, delay := s.current()
			if delay > 0 {
				time.Sleep(delay)
			}
			if _, err := s.conn.WriteToUDP(answer, from); err == nil {
				s.answers.Add(1)
			}
		}
	}()
	return r
}

func (s *UDP) isClosed() bool {
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	return s.closed
}
