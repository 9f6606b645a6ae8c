package modbussim

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// ServePTY serves RTU on a new pseudo-terminal and returns the path of its
// device end (/dev/pts/N), which a client opens as a serial port: RTU over a
// serial line without hardware. The gateway keeps the device end open too,
// so the terminal survives a client closing and reopening it, and sets it to
// raw mode so no byte is echoed or translated.
func (g *Gateway) ServePTY() (string, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return "", fmt.Errorf("modbussim: open pty: %w", err)
	}
	path, err := ptsName(master)
	if err != nil {
		_ = master.Close()
		return "", err
	}
	hold, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		_ = master.Close()
		return "", fmt.Errorf("modbussim: open %s: %w", path, err)
	}
	if err := makeRaw(hold); err != nil {
		_ = hold.Close()
		_ = master.Close()
		return "", fmt.Errorf("modbussim: %s: %w", path, err)
	}
	if !g.track(master) || !g.track(hold) {
		return "", fmt.Errorf("modbussim gateway: closed")
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.serve(master, FramingRTU)
	}()
	return path, nil
}

// ptsName unlocks the pseudo-terminal and returns its device path.
func ptsName(master *os.File) (string, error) {
	rc, err := master.SyscallConn()
	if err != nil {
		return "", err
	}
	var n uint32
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		var unlock int32
		if _, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
			return
		}
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n)))
	})
	if err == nil && errno != 0 {
		err = errno
	}
	if err != nil {
		return "", fmt.Errorf("modbussim: pty: %w", err)
	}
	return "/dev/pts/" + strconv.FormatUint(uint64(n), 10), nil
}

// makeRaw sets the terminal to raw 8-bit mode: no echo, no line editing,
// no character translation.
func makeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		t := syscall.Termios{Cflag: syscall.CS8 | syscall.CREAD | syscall.CLOCAL | syscall.B19200}
		t.Cc[syscall.VMIN], t.Cc[syscall.VTIME] = 1, 0
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCSETS, uintptr(unsafe.Pointer(&t)))
	})
	if err == nil && errno != 0 {
		err = errno
	}
	return err
}
