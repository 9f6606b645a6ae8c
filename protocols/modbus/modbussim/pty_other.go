//go:build !linux

package modbussim

import "errors"

// ServePTY is implemented on Linux only (it uses /dev/ptmx).
func (g *Gateway) ServePTY() (string, error) {
	return "", errors.New("modbussim: pseudo-terminals are supported on Linux only")
}
