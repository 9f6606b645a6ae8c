package coapsim

import (
	"bytes"
	"context"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
)

// notifyTimeout bounds one confirmable notification, retransmissions
// included; an observer that does not acknowledge in time is removed
// (RFC 7641 §4.5).
const notifyTimeout = 3 * time.Second

// queueLen is how many notifications may wait for one slow observer before
// the simulator, like a constrained device, starts skipping states.
const queueLen = 256

// observer is one registration: a client endpoint and its token. Its
// notifications are sent in order by its own goroutine, so a slow client
// never blocks Tick.
type observer struct {
	key   observerKey
	path  string
	seq   uint32 // next Observe sequence number; guarded by Sim.mu
	queue chan notification
	done  chan struct{} // closed when the observer is removed
}

type observerKey struct {
	conn  mux.Conn
	token string
}

type notification struct {
	rep representation
	seq uint32
}

// register adds or replaces (same endpoint and token, RFC 7641 §4.1) an
// observer and returns the sequence number for the registration response.
func (s *Sim) register(conn mux.Conn, token []byte, path string) uint32 {
	key := observerKey{conn: conn, token: string(token)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.observers[key]; ok {
		s.removeLocked(old)
	}
	o := &observer{key: key, path: path, seq: 1, queue: make(chan notification, queueLen), done: make(chan struct{})}
	seq := o.seq
	o.seq++
	if s.ctx.Err() != nil { // closing: Close is waiting for the senders
		return seq
	}
	s.observers[key] = o
	if !s.watched[conn] {
		s.watched[conn] = true
		conn.AddOnClose(func() { s.forgetConn(conn) })
	}
	s.senders.Add(1)
	go s.send(o)
	return seq
}

// deregister removes the observer for a GET with Observe: 1.
func (s *Sim) deregister(conn mux.Conn, token []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.observers[observerKey{conn: conn, token: string(token)}]; ok {
		s.removeLocked(o)
	}
}

func (s *Sim) forgetConn(conn mux.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.watched, conn)
	for k, o := range s.observers {
		if k.conn == conn {
			s.removeLocked(o)
		}
	}
}

// removeLocked stops an observer; s.mu must be held.
func (s *Sim) removeLocked(o *observer) {
	if cur, ok := s.observers[o.key]; ok && cur == o {
		delete(s.observers, o.key)
		close(o.done)
	}
}

// notifyLocked queues the current state of path for its observers; s.mu
// must be held.
func (s *Sim) notifyLocked(path string) {
	if s.noObserve[path] {
		return
	}
	rep, ok := s.representationLocked(path)
	if !ok {
		return
	}
	for _, o := range s.observers {
		if o.path != path {
			continue
		}
		select {
		case o.queue <- notification{rep: rep, seq: o.seq}:
			o.seq = (o.seq + 1) & 0xffffff // 24-bit, RFC 7641 §3.4
		default:
			s.log.Warn("observer too slow, notification skipped", "path", path)
		}
	}
}

// send delivers an observer's notifications until it is removed or the
// simulator closes.
func (s *Sim) send(o *observer) {
	defer s.senders.Done()
	for {
		select {
		case <-o.done:
			return
		case <-s.ctx.Done():
			return
		case n := <-o.queue:
			if err := s.write(o, n); err != nil {
				s.log.Debug("notification failed, observer removed", "path", o.path, "err", err)
				s.mu.Lock()
				s.removeLocked(o)
				s.mu.Unlock()
				return
			}
		}
	}
}

func (s *Sim) write(o *observer, n notification) error {
	ctx, cancel := context.WithTimeout(s.ctx, notifyTimeout)
	defer cancel()
	conn := o.key.conn
	m := conn.AcquireMessage(ctx)
	defer conn.ReleaseMessage(m)
	m.SetCode(codes.Content)
	m.SetToken(message.Token(o.key.token))
	m.SetContentFormat(n.rep.format)
	m.SetObserve(n.seq)
	m.SetBody(bytes.NewReader(n.rep.payload))
	return conn.WriteMessage(m) // confirmable: waits for the client's ACK
}

// Observers returns how many observers path has.
func (s *Sim) Observers(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, o := range s.observers {
		if o.path == path {
			n++
		}
	}
	return n
}

// ForgetObservers drops every observer without telling the clients, as a
// device does when it reboots or runs out of memory: notifications stop.
// New registrations are served as usual.
func (s *Sim) ForgetObservers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.observers {
		s.removeLocked(o)
	}
}

// DisableObserve makes path answer registrations without the Observe
// option, as a resource that cannot be observed does (RFC 7641 §4.1).
func (s *Sim) DisableObserve(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noObserve[path] = true
	for _, o := range s.observers {
		if o.path == path {
			s.removeLocked(o)
		}
	}
}
