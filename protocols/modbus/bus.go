package modbus

import (
	"fmt"
	"log/slog"
	"sync"
)

// Bus shares ports between Sources: every Source created with the same Bus
// and the same port (tcp://host:port, rtutcp://host:port or the serial
// device) uses one connection and one lock, whatever its unit id. Create one
// Bus for all Modbus devices of an appliance and pass it with WithBus. A
// Source created without one gets a Bus of its own, so nothing is shared
// behind the caller's back.
type Bus struct {
	mu    sync.Mutex
	ports map[string]*port
}

// NewBus returns an empty Bus.
func NewBus() *Bus { return &Bus{ports: make(map[string]*port)} }

// acquire returns the port for ep, creating it on first use, and counts the
// reference. A serial port is shared only with identical line settings:
// one line cannot run at two baud rates.
func (b *Bus) acquire(ep endpoint, log *slog.Logger) (*port, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.ports[ep.key()]
	if !ok {
		p = newPort(ep, log)
		b.ports[ep.key()] = p
	} else if p.ep.serial != ep.serial {
		return nil, fmt.Errorf("%s is already in use with settings %s, not %s", ep.key(), p.ep.serial, ep.serial)
	}
	p.refs.Add(1)
	return p, nil
}

// release drops one reference and closes the port with the last one.
func (b *Bus) release(p *port) error {
	b.mu.Lock()
	last := p.refs.Add(-1) == 0
	if last && b.ports[p.ep.key()] == p {
		delete(b.ports, p.ep.key())
	}
	b.mu.Unlock()
	if !last {
		return nil
	}
	return p.shutdown()
}

// shared reports whether another Source uses the port too.
func (p *port) shared() bool { return p.refs.Load() > 1 }
