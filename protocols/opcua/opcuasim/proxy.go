package opcuasim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// proxy forwards the sim's public port to the gopcua server's internal one.
//
// It exists because gopcua's Server.Close (v0.8.0) does not close client TCP
// connections: it sends CloseSecureChannel and then waits up to 10 s for
// channel goroutines that stay blocked reading the still-open socket, and the
// client never notices the server went away. Owning the connections lets
// Close cut them at once. Owning the public listener also means port 0 is
// resolved by the kernel, race-free.
type proxy struct {
	ln     net.Listener
	target string // internal address of the gopcua server
	log    *slog.Logger
	filter func([]byte) []byte // nil: the server's bytes pass unchanged

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newProxy(ln net.Listener, target string, log *slog.Logger) *proxy {
	p := &proxy{ln: ln, target: target, log: log, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.serve()
	return p
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Error("opcuasim: accept", "err", err)
			}
			return
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *proxy) forward(front net.Conn) {
	defer p.wg.Done()
	back, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.log.Error("opcuasim: dial server", "target", p.target, "err", err)
		_ = front.Close()
		return
	}
	if !p.track(front, back) {
		_ = front.Close()
		_ = back.Close()
		return
	}
	defer p.untrack(front, back)

	// When either side ends, close both so the other copy returns too.
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(back, front)
	if p.filter == nil {
		go pipe(front, back)
	} else {
		go func() {
			_ = filterChunks(front, back, p.filter)
			_ = front.Close()
			_ = back.Close()
			done <- struct{}{}
		}()
	}
	<-done
	<-done
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// Close stops accepting, cuts every forwarded connection and waits for the
// forwarding goroutines to finish.
func (p *proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// filterChunks copies OPC UA TCP message chunks (an 8-byte header: type,
// chunk type, little-endian size including the header) from src to dst,
// each through f.
func filterChunks(dst io.Writer, src io.Reader, f func([]byte) []byte) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			return err
		}
		size := binary.LittleEndian.Uint32(hdr[4:])
		if size < 8 || size > 1<<24 {
			return fmt.Errorf("opcuasim: chunk size %d", size)
		}
		chunk := make([]byte, size)
		copy(chunk, hdr[:])
		if _, err := io.ReadFull(src, chunk[8:]); err != nil {
			return err
		}
		out := f(chunk)
		if len(out) != len(chunk) {
			return fmt.Errorf("opcuasim: the response filter changed a chunk's length from %d to %d", len(chunk), len(out))
		}
		if _, err := dst.Write(out); err != nil {
			return err
		}
	}
}
