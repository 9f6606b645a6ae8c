package modbus

import (
	"strings"
	"testing"
	"time"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		url  string
		want endpoint
		key  string
	}{
		{"tcp://plc", endpoint{transport: transportTCP, address: "plc:502"}, "tcp://plc:502"},
		{"tcp://10.0.0.1:5020/", endpoint{transport: transportTCP, address: "10.0.0.1:5020"}, "tcp://10.0.0.1:5020"},
		{"tcp://[::1]:502", endpoint{transport: transportTCP, address: "[::1]:502"}, "tcp://[::1]:502"},
		{"rtutcp://gw:4001", endpoint{transport: transportRTUOverTCP, address: "gw:4001"}, "rtutcp://gw:4001"},
		{"rtu:///dev/ttyUSB0", endpoint{transport: transportRTU, address: "/dev/ttyUSB0", serial: defaultSerial}, "rtu:///dev/ttyUSB0"},
		{"rtu:///dev/ttyS1?baud=9600&parity=none&data_bits=7&stop_bits=2",
			endpoint{transport: transportRTU, address: "/dev/ttyS1", serial: serialSettings{Baud: 9600, Parity: "N", DataBits: 7, StopBits: 2}},
			"rtu:///dev/ttyS1"},
		{"rtu:///dev/ttyS1?parity=o", endpoint{transport: transportRTU, address: "/dev/ttyS1",
			serial: serialSettings{Baud: 19200, Parity: "O", DataBits: 8, StopBits: 1}}, "rtu:///dev/ttyS1"},
	}
	for _, tc := range tests {
		got, err := parseEndpoint(tc.url)
		if err != nil || got != tc.want || got.key() != tc.key {
			t.Errorf("parseEndpoint(%q) = %+v (key %q), %v; want %+v (key %q)", tc.url, got, got.key(), err, tc.want, tc.key)
		}
	}
	bad := map[string]string{
		"":                                     "is required",
		"udp://h:502":                          "unsupported scheme",
		"tcp://":                               "has no host",
		"tcp://h:0":                            "invalid port",
		"tcp://u:p@h:502":                      "user info",
		"rtutcp://h:502?x=1":                   "only rtutcp://host:port",
		"rtu://dev/ttyUSB0":                    "three slashes",
		"rtu:///dev/../dev/ttyUSB0":            "absolute device path",
		"rtu:///dev/ttyUSB0/":                  "absolute device path",
		"rtu:///dev/ttyUSB0?baud=fast":         "not a number",
		"rtu:///dev/ttyUSB0?baud=14400":        "unsupported rate 14400",
		"rtu:///dev/ttyUSB0?parity=M":          "parity",
		"rtu:///dev/ttyUSB0?data_bits=5":       "data_bits",
		"rtu:///dev/ttyUSB0?stop_bits=3":       "stop_bits",
		"rtu:///dev/ttyUSB0?baud=9600&baud=10": "given 2 times",
		"rtu:///dev/ttyUSB0?flow=rts":          `unknown parameter "flow"`,
	}
	for url, want := range bad {
		if _, err := parseEndpoint(url); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseEndpoint(%q) error %v, want it to contain %q", url, err, want)
		}
	}
}

func TestFrameGap(t *testing.T) {
	if got := frameGap(9600); got < 4*time.Millisecond || got > 4100*time.Microsecond {
		t.Errorf("frameGap(9600) = %v, want about 4.01ms (3.5 characters of 11 bits)", got)
	}
	if got := frameGap(115200); got != 1750*time.Microsecond {
		t.Errorf("frameGap(115200) = %v, want the fixed 1.75ms", got)
	}
}
