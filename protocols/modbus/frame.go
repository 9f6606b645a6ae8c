package modbus

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Frame readers take exactly one response off the stream, so that a
// transporter never hands goburrow a partial or concatenated frame. They
// check only what is needed to know the frame's length; goburrow's packagers
// then verify transaction id, unit and CRC.

const (
	mbapHeaderSize = 7   // transaction id, protocol id, length, unit id
	mbapMaxLength  = 254 // unit id + PDU (at most 253 bytes)
	rtuMaxSize     = 256 // unit id + PDU + CRC
)

// readMBAPFrame reads one Modbus TCP response: the 7-byte header, then the
// rest of the length the header announces.
func readMBAPFrame(r io.Reader, _ []byte) ([]byte, error) {
	var buf [mbapHeaderSize - 1 + mbapMaxLength]byte
	if _, err := io.ReadFull(r, buf[:mbapHeaderSize]); err != nil {
		return nil, err
	}
	if proto := binary.BigEndian.Uint16(buf[2:]); proto != 0 {
		return nil, fmt.Errorf("modbus tcp: protocol id %d in response, want 0", proto)
	}
	length := int(binary.BigEndian.Uint16(buf[4:]))
	if length < 2 || length > mbapMaxLength {
		return nil, fmt.Errorf("modbus tcp: length %d in response header, want 2..%d", length, mbapMaxLength)
	}
	n := mbapHeaderSize - 1 + length
	if _, err := io.ReadFull(r, buf[mbapHeaderSize:n]); err != nil {
		return nil, err
	}
	return append([]byte(nil), buf[:n]...), nil
}

// readRTUFrame reads one RTU response to req (an RTU request ADU). RTU has
// no length field, so the length follows from the function code: an
// exception is 5 bytes, a read response 5 + its byte count, a write echo 8.
// A frame from another unit or for another function is refused rather than
// guessed at: on a serial bus it is a stray or late answer.
func readRTUFrame(r io.Reader, req []byte) ([]byte, error) {
	if len(req) < 4 || req[1]&0x80 != 0 {
		return nil, fmt.Errorf("modbus rtu: not a request: % x", req)
	}
	var buf [rtuMaxSize]byte
	if _, err := io.ReadFull(r, buf[:2]); err != nil {
		return nil, err
	}
	unit, fc := buf[0], buf[1]
	if unit != req[0] {
		return nil, fmt.Errorf("modbus rtu: response from unit %d to a request for unit %d", unit, req[0])
	}
	var n int
	switch {
	case fc == req[1]|0x80:
		n = 5 // unit, function, exception code, CRC
	case fc != req[1]:
		return nil, fmt.Errorf("modbus rtu: response function 0x%02x to request 0x%02x", fc, req[1])
	case fc >= 1 && fc <= 4:
		if len(req) < 6 {
			return nil, fmt.Errorf("modbus rtu: read request of %d bytes", len(req))
		}
		if _, err := io.ReadFull(r, buf[2:3]); err != nil {
			return nil, err
		}
		qty := int(binary.BigEndian.Uint16(req[4:]))
		want := 2 * qty
		if fc <= 2 {
			want = (qty + 7) / 8
		}
		if int(buf[2]) != want {
			return nil, fmt.Errorf("modbus rtu: byte count %d in response, want %d", buf[2], want)
		}
		n = 3 + want + 2
		if n > rtuMaxSize {
			return nil, fmt.Errorf("modbus rtu: response of %d bytes exceeds %d", n, rtuMaxSize)
		}
	case fc == 5 || fc == 6 || fc == 15 || fc == 16:
		n = 8 // unit, function, address, value or quantity, CRC
	default:
		return nil, fmt.Errorf("modbus rtu: cannot frame the response to function 0x%02x", fc)
	}
	start := 2
	if fc >= 1 && fc <= 4 {
		start = 3
	}
	if _, err := io.ReadFull(r, buf[start:n]); err != nil {
		return nil, err
	}
	return append([]byte(nil), buf[:n]...), nil
}
