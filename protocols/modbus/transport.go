package modbus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/goburrow/serial"
)

// link is a byte stream to a port: a TCP connection or a serial line.
type link interface {
	io.ReadWriteCloser
	// SetDeadline bounds the reads and writes of the current request; a
	// time in the past interrupts one that is blocked.
	SetDeadline(time.Time) error
}

// frameReader reads exactly one response to req from r.
type frameReader func(r io.Reader, req []byte) ([]byte, error)

// streamTransporter is goburrow's Transporter over a link. goburrow's own
// transporters dial and time out by themselves, cannot be interrupted, and
// its RTU transporter is serial-only; this one leaves connection handling
// and deadlines to the port and only moves one frame each way.
type streamTransporter struct {
	link  link
	frame frameReader
	// buffered reads through br: one read call per answer instead of one
	// for the header and one for the rest (the per-request overhead in
	// docs/BENCHMARKS.md). Only for TCP, whose connection is closed and
	// replaced (with its buffer) after any error; a serial line is drained
	// in place and must not keep stale bytes in a buffer.
	buffered bool
	br       *bufio.Reader
}

func (t *streamTransporter) Send(req []byte) ([]byte, error) {
	if _, err := t.link.Write(req); err != nil {
		return nil, err
	}
	if !t.buffered {
		return t.frame(t.link, req)
	}
	if t.br == nil {
		t.br = bufio.NewReaderSize(t.link, mbapHeaderSize-1+mbapMaxLength)
	}
	return t.frame(t.br, req)
}

// openLink connects to the endpoint within timeout (and ctx).
func openLink(ctx context.Context, ep endpoint, timeout time.Duration) (link, error) {
	if ep.transport == transportRTU {
		return openSerial(ep)
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", ep.address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// serialReadSlice is how long one read of the serial port blocks; the link
// checks its deadline between reads. goburrow/serial has no deadlines.
const serialReadSlice = 10 * time.Millisecond

// serialLink adds deadlines to a goburrow/serial port.
type serialLink struct {
	port io.ReadWriteCloser

	mu       sync.Mutex
	deadline time.Time
}

func openSerial(ep endpoint) (*serialLink, error) {
	p, err := serial.Open(&serial.Config{
		Address:  ep.address,
		BaudRate: ep.serial.Baud,
		DataBits: ep.serial.DataBits,
		StopBits: ep.serial.StopBits,
		Parity:   ep.serial.Parity,
		Timeout:  serialReadSlice,
	})
	if err != nil {
		return nil, err
	}
	return &serialLink{port: p}, nil
}

func (l *serialLink) SetDeadline(t time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deadline = t
	return nil
}

func (l *serialLink) Read(b []byte) (int, error) {
	for {
		l.mu.Lock()
		dl := l.deadline
		l.mu.Unlock()
		if !dl.IsZero() && !time.Now().Before(dl) {
			return 0, os.ErrDeadlineExceeded
		}
		n, err := l.port.Read(b)
		if errors.Is(err, serial.ErrTimeout) {
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (l *serialLink) Write(b []byte) (int, error) { return l.port.Write(b) }
func (l *serialLink) Close() error                { return l.port.Close() }

// drain discards whatever arrives until the line has been quiet for quiet,
// at most for limit: after a timeout the late answer may still come, and
// RTU has no transaction id to tell it from the next one.
func (l *serialLink) drain(quiet, limit time.Duration) error {
	stop := time.Now().Add(limit)
	var buf [rtuMaxSize]byte
	for time.Now().Before(stop) {
		_ = l.SetDeadline(time.Now().Add(quiet))
		if _, err := l.Read(buf[:]); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return fmt.Errorf("drain: %w", err)
		}
	}
	return nil
}

// frameGap is the silent interval of 3.5 characters that separates RTU
// frames (Modbus over serial line, 2.5.1.1: fixed 1.75 ms above 19200 baud).
func frameGap(baud int) time.Duration {
	if baud <= 0 || baud > 19200 {
		return 1750 * time.Microsecond
	}
	return time.Duration(3.5*11*float64(time.Second)) / time.Duration(baud)
}
