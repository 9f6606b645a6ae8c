package modbussim

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
)

func holdingReq(unit uint8, addr uint16) *modbus.HoldingRegistersRequest {
	return &modbus.HoldingRegistersRequest{UnitId: unit, Addr: addr, Quantity: 1}
}

func TestCRC16(t *testing.T) {
	// The example frame of the Modbus over serial line guide: read 10
	// holding registers of unit 1, CRC C5 CD on the wire (low byte first).
	if got := crc16([]byte{1, 3, 0, 0, 0, 10}); got != 0xCDC5 {
		t.Fatalf("crc16 = %#04x, want 0xCDC5", got)
	}
}

func TestReadRTURequest(t *testing.T) {
	read := encodeResponse(FramingRTU, request{unit: 7}, []byte{3, 0, 10, 0, 2})
	write := encodeResponse(FramingRTU, request{unit: 7}, []byte{16, 0, 1, 0, 2, 4, 0xAA, 0xBB, 0xCC, 0xDD})
	bad := bytes.Clone(read)
	bad[len(bad)-1] ^= 0xFF
	stream := bytes.Join([][]byte{read, write, bad, read}, nil)
	r := bufio.NewReader(bytes.NewReader(stream))

	for i, want := range [][]byte{read[1 : len(read)-2], write[1 : len(write)-2]} {
		req, err := readRequest(r, FramingRTU)
		if err != nil || req.unit != 7 || !bytes.Equal(req.pdu, want) {
			t.Fatalf("request %d: %+v, %v; want unit 7 pdu % x", i, req, err, want)
		}
	}
	// The bad frame and whatever was buffered with it are dropped.
	if _, err := readRequest(r, FramingRTU); !errors.Is(err, errSkip) {
		t.Fatalf("bad CRC: %v, want a skipped frame", err)
	}
	if _, err := readRequest(r, FramingRTU); err != io.EOF {
		t.Fatalf("after the skip: %v, want EOF (the buffer was discarded)", err)
	}
	r = bufio.NewReader(bytes.NewReader([]byte{1, 0x2B, 0, 0}))
	if _, err := readRequest(r, FramingRTU); !errors.Is(err, errSkip) {
		t.Fatalf("unknown function: %v, want a skipped frame", err)
	}
}

// TestGatewaySilenceAndDelay drives the gateway with raw frames.
func TestGatewaySilenceAndDelay(t *testing.T) {
	sim, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	sim.Unit(5).SetHolding(0, 0x1234)
	g := NewGateway(sim.Addr(), nil)
	defer g.Close()
	addr, err := g.Listen("127.0.0.1:0", FramingRTU)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func(unit uint8) ([]byte, error) {
		req := encodeResponse(FramingRTU, request{unit: unit}, []byte{3, 0, 0, 0, 1})
		if _, err := c.Write(req); err != nil {
			return nil, err
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		resp := make([]byte, 7)
		_, err := io.ReadFull(c, resp)
		return resp, err
	}
	want := encodeResponse(FramingRTU, request{unit: 5}, []byte{3, 2, 0x12, 0x34})
	if got, err := ask(5); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("unit 5: % x, %v; want % x", got, err, want)
	}
	g.Silence(5, true)
	if got, err := ask(5); err == nil {
		t.Fatalf("silenced unit answered % x", got)
	}
	g.Silence(5, false)
	if got, err := ask(5); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("unit 5 after silence: % x, %v", got, err)
	}
	done := g.DelayNext(100 * time.Millisecond)
	start := time.Now()
	if _, err := ask(5); err != nil {
		t.Fatal(err)
	}
	<-done
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("delayed response after %v", d)
	}
	if accepted, open := g.Conns(); accepted != 1 || open != 1 {
		t.Fatalf("conns %d/%d, want 1/1", accepted, open)
	}
	if reqs := sim.Requests(); len(reqs) != 3 || reqs[0] != (Request{Unit: 5, Table: "holding", Quantity: 1}) {
		t.Fatalf("simulator requests %+v, want 3 reads of unit 5 (the silenced one never arrived)", reqs)
	}
}

func TestUnitBanks(t *testing.T) {
	s, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Unit(2).SetHolding(100, 9)
	h := &handler{s: s}
	if _, err := h.HandleHoldingRegisters(holdingReq(2, HoldingPressure)); err == nil {
		t.Error("unit 2 with its own registers still sees the demo layout")
	}
	if v, err := h.HandleHoldingRegisters(holdingReq(2, 100)); err != nil || v[0] != 9 {
		t.Errorf("unit 2 register 100 = %v, %v", v, err)
	}
	if v, err := h.HandleHoldingRegisters(holdingReq(3, HoldingPressure)); err != nil || v[0] != 420 {
		t.Errorf("unit 3 pressure = %v, %v; want the demo layout", v, err)
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 {
		t.Error("ResetRequests left requests")
	}
}
