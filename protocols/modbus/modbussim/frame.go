package modbussim

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Framing is how a Gateway's clients frame their requests.
type Framing uint8

const (
	// FramingTCP is Modbus TCP: an MBAP header with a transaction id.
	FramingTCP Framing = iota
	// FramingRTU is RTU: unit id, PDU, CRC, no length and no transaction
	// id, as serial devices and serial-to-Ethernet converters speak it.
	FramingRTU
)

func (f Framing) String() string {
	if f == FramingRTU {
		return "rtu"
	}
	return "tcp"
}

// errSkip marks a request frame the gateway drops, as a device drops a
// frame with a bad CRC; the session continues.
var errSkip = errors.New("frame skipped")

// request is one request as received.
type request struct {
	tid  uint16 // TCP only
	unit uint8
	pdu  []byte // function code and data
}

// readRequest reads one request frame.
func readRequest(r *bufio.Reader, f Framing) (request, error) {
	if f == FramingRTU {
		return readRTURequest(r)
	}
	var hdr [7]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return request{}, err
	}
	n := int(binary.BigEndian.Uint16(hdr[4:]))
	if binary.BigEndian.Uint16(hdr[2:]) != 0 || n < 2 || n > 254 {
		return request{}, fmt.Errorf("bad MBAP header % x", hdr)
	}
	pdu := make([]byte, n-1)
	if _, err := io.ReadFull(r, pdu); err != nil {
		return request{}, err
	}
	return request{tid: binary.BigEndian.Uint16(hdr[:]), unit: hdr[6], pdu: pdu}, nil
}

// readRTURequest reads one RTU request. The length follows from the
// function code; the functions a client of this package may send are
// supported. An unknown function or a bad CRC drops what is buffered, as a
// device resynchronises on the next silent interval.
func readRTURequest(r *bufio.Reader) (request, error) {
	head, err := r.Peek(2)
	if err != nil {
		return request{}, err
	}
	n := 0
	switch fc := head[1]; fc {
	case 1, 2, 3, 4, 5, 6:
		n = 8
	case 15, 16:
		h, err := r.Peek(7)
		if err != nil {
			return request{}, err
		}
		n = 7 + int(h[6]) + 2
	default:
		_, _ = r.Discard(r.Buffered())
		return request{}, fmt.Errorf("function 0x%02x: %w", fc, errSkip)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		return request{}, err
	}
	if crc16(frame[:n-2]) != binary.LittleEndian.Uint16(frame[n-2:]) {
		_, _ = r.Discard(r.Buffered())
		return request{}, fmt.Errorf("bad CRC in % x: %w", frame, errSkip)
	}
	return request{unit: frame[0], pdu: frame[1 : n-2]}, nil
}

// encodeResponse frames pdu for the client.
func encodeResponse(f Framing, req request, pdu []byte) []byte {
	if f == FramingRTU {
		b := make([]byte, 0, len(pdu)+3)
		b = append(b, req.unit)
		b = append(b, pdu...)
		return binary.LittleEndian.AppendUint16(b, crc16(b))
	}
	b := make([]byte, 7, 7+len(pdu))
	binary.BigEndian.PutUint16(b, req.tid)
	binary.BigEndian.PutUint16(b[4:], uint16(len(pdu)+1))
	b[6] = req.unit
	return append(b, pdu...)
}

// crc16 is the Modbus RTU CRC (CRC-16/MODBUS: reflected polynomial 0xA001,
// initial value 0xFFFF), sent low byte first.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
