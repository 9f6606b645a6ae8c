package faultdev

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// echoTCP is an upstream device that answers every chunk with "re:" + chunk.
func echoTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					c.Write(append([]byte("re:"), buf[:n]...))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func echoUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1024)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			c.WriteToUDP(append([]byte("re:"), buf[:n]...), from)
		}
	}()
	return c.LocalAddr().String()
}

// ask sends req on c and returns what arrives within wait (nil on silence).
func ask(t *testing.T, c net.Conn, req []byte, wait time.Duration) ([]byte, time.Duration) {
	t.Helper()
	start := time.Now()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1024)
	n, err := c.Read(buf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, time.Since(start)
		}
		t.Fatalf("read: %v", err)
	}
	return buf[:n], time.Since(start)
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTCPModes(t *testing.T) {
	s, err := ListenTCP(t.Context(), echoTCP(t), Pass)
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(s.Addr()); host != "127.0.0.1" {
		t.Fatalf("listening on %s", s.Addr())
	}

	got, _ := ask(t, dialTCP(t, s.Addr()), []byte("a"), time.Second)
	if string(got) != "re:a" {
		t.Fatalf("pass: %q", got)
	}

	s.SetMode(Silent)
	c := dialTCP(t, s.Addr())
	if got, _ := ask(t, c, []byte("b"), 300*time.Millisecond); got != nil {
		t.Fatalf("silent answered %q", got)
	}
	if st := s.Stats(); st.Open != 1 {
		t.Fatalf("silent endpoint should hold the connection open: %+v", st)
	}

	s.SetMode(Garbage)
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("SetMode did not cut the open connection: %v", err)
	}
	got, _ = ask(t, dialTCP(t, s.Addr()), []byte("c"), time.Second)
	if len(got) == 0 || bytes.HasPrefix(got, []byte("re:")) {
		t.Fatalf("garbage: %q", got)
	}

	s.SetSlow(300 * time.Millisecond)
	got, took := ask(t, dialTCP(t, s.Addr()), []byte("d"), 2*time.Second)
	if string(got) != "re:d" || took < 300*time.Millisecond {
		t.Fatalf("slow: %q after %v", got, took)
	}

	st := waitStats(t, s.Stats, func(st Stats) bool { return st.Answers == 3 })
	if st.Accepted != 4 || st.Requests != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTCPStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := ListenTCP(ctx, "", Silent)
	if err != nil {
		t.Fatal(err)
	}
	c := dialTCP(t, s.Addr())
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("endpoint still accepts after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("open connection not cut: %v", err)
	}
}

func TestUDPModes(t *testing.T) {
	s, err := ListenUDP(t.Context(), echoUDP(t), Pass)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, _ := ask(t, c, []byte("a"), time.Second); string(got) != "re:a" {
		t.Fatalf("pass: %q", got)
	}
	s.SetMode(Silent)
	if got, _ := ask(t, c, []byte("b"), 200*time.Millisecond); got != nil {
		t.Fatalf("silent answered %q", got)
	}
	s.SetMode(Garbage)
	if got, _ := ask(t, c, []byte("c"), time.Second); len(got) == 0 || bytes.HasPrefix(got, []byte("re:")) {
		t.Fatalf("garbage: %q", got)
	}
	s.SetSlow(200 * time.Millisecond)
	if got, took := ask(t, c, []byte("d"), time.Second); string(got) != "re:d" || took < 200*time.Millisecond {
		t.Fatalf("slow: %q after %v", got, took)
	}
	if st := waitStats(t, s.Stats, func(st Stats) bool { return st.Answers == 3 }); st.Requests != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFramedGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// Modbus TCP: read holding registers, transaction 0x1234, unit 7.
	req := []byte{0x12, 0x34, 0, 0, 0, 6, 7, 3, 0, 0, 0, 2}
	for i := 0; i < 100; i++ {
		out := ModbusTCPFramed(req, r)
		if !bytes.Equal(out[0:4], []byte{0x12, 0x34, 0, 0}) || out[6] != 7 || out[7] != 3 ||
			int(binary.BigEndian.Uint16(out[4:6])) != len(out)-6 || int(out[8]) != len(out)-9 {
			t.Fatalf("badly framed Modbus answer % x", out)
		}
	}
	// CoAP: confirmable GET, message id 0xbeef, token 0xa1b2.
	coap := []byte{0x42, 0x01, 0xbe, 0xef, 0xa1, 0xb2, 0xb7, 's', 'e', 'n', 's', 'o', 'r', 's'}
	for i := 0; i < 100; i++ {
		out := CoAPFramed(coap, r)
		if !bytes.Equal(out[:6], []byte{0x62, 0x45, 0xbe, 0xef, 0xa1, 0xb2}) || out[6] != 0xff || len(out) < 8 {
			t.Fatalf("badly framed CoAP answer % x", out)
		}
	}
}

// waitStats returns the stats once ok holds (counters are updated just
// after an answer is written, so a moment after the client reads it).
func waitStats(t *testing.T, stats func() Stats, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		st := stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
