package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A pid file holds "pid starttime": the start time (clock ticks since boot,
// /proc/pid/stat field 22) guards against signalling an unrelated process
// that reused the pid after ours exited.

// startProcess starts a long-running server in a session of its own (so it
// outlives `fabricnet up` and ignores the terminal's Ctrl-C), logging to
// logs/<name>.log and recording its pid in run/<name>.pid. With
// stopWithCaller the kernel kills it when the calling process dies.
func startProcess(l layout, name string, cmd *exec.Cmd, stopWithCaller bool, log *slog.Logger) error {
	if err := os.MkdirAll(l.logs(), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(l.run(), 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(l.logs(), name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log of %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if stopWithCaller {
		// Strictly, Pdeathsig fires when the forking OS thread exits; Go
		// keeps its threads for the life of the process unless a goroutine
		// exits while locked to one, which this package never does.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	// Reap the child if it exits while this process still runs (tests); a
	// zombie would otherwise look alive to Down.
	go func() {
		err := cmd.Wait()
		f.Close()
		log.Debug("process exited", "name", name, "pid", pid, "err", err)
	}()
	start, err := procStartTime(pid)
	if err != nil {
		return fmt.Errorf("%s (pid %d) exited at once; see %s: %w", name, pid, logPath, err)
	}
	if err := os.WriteFile(pidFile(l, name), fmt.Appendf(nil, "%d %d\n", pid, start), 0o644); err != nil {
		return err
	}
	log.Info("started", "name", name, "pid", pid, "log", logPath)
	return nil
}

func pidFile(l layout, name string) string { return filepath.Join(l.run(), name+".pid") }

// Process is a network process as recorded in its pid file.
type Process struct {
	Name    string
	PID     int
	Running bool
}

// processes lists the recorded processes and whether each still runs.
func processes(l layout) ([]Process, error) {
	files, err := filepath.Glob(filepath.Join(l.run(), "*.pid"))
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		pid, start, err := readPidFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, Process{Name: name, PID: pid, Running: alive(pid, start)})
	}
	return out, nil
}

func readPidFile(path string) (pid int, start uint64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return 0, 0, fmt.Errorf("pid file %s: malformed", path)
	}
	if pid, err = strconv.Atoi(fields[0]); err != nil {
		return 0, 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	if start, err = strconv.ParseUint(fields[1], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	return pid, start, nil
}

// alive reports whether pid is still the process that was started at start
// and has not exited (zombies count as gone).
func alive(pid int, start uint64) bool {
	s, state, err := procStat(pid)
	return err == nil && s == start && state != "Z" && state != "X"
}

func procStartTime(pid int) (uint64, error) {
	s, _, err := procStat(pid)
	return s, err
}

// procStat reads a process's state and start time from /proc/pid/stat.
func procStat(pid int) (start uint64, state string, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	// The command name (field 2) is parenthesised and may hold spaces.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", errors.New("malformed /proc stat")
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 {
		return 0, "", errors.New("short /proc stat")
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	return start, fields[0], err
}

// stopProcesses sends SIGTERM to every live recorded process, waits up to
// grace for them to exit, then SIGKILLs the rest; pid files are removed.
func stopProcesses(ctx context.Context, l layout, grace time.Duration, log *slog.Logger) error {
	files, err := filepath.Glob(filepath.Join(l.run(), "*.pid"))
	if err != nil {
		return err
	}
	type target struct {
		name, file string
		pid        int
		start      uint64
	}
	var live []target
	for _, f := range files {
		pid, start, err := readPidFile(f)
		if err != nil {
			log.Warn("ignoring pid file", "file", f, "err", err)
			os.Remove(f)
			continue
		}
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		if !alive(pid, start) {
			os.Remove(f)
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s (pid %d): %w", name, pid, err)
		}
		live = append(live, target{name, f, pid, start})
	}
	deadline := time.Now().Add(grace)
	for _, t := range live {
		for alive(t.pid, t.start) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(t.pid, t.start) {
			log.Warn("process ignored SIGTERM; killing", "name", t.name, "pid", t.pid)
			if err := syscall.Kill(t.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("kill %s (pid %d): %w", t.name, t.pid, err)
			}
			for i := 0; i < 40 && alive(t.pid, t.start); i++ {
				time.Sleep(25 * time.Millisecond)
			}
		}
		log.Info("stopped", "name", t.name, "pid", t.pid)
		os.Remove(t.file)
	}
	return nil
}

// waitHealthy polls a Fabric operations endpoint until /healthz answers 200.
func waitHealthy(ctx context.Context, name, opsAddr string, l layout, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + opsAddr + "/healthz"
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if !processRunning(l, name) {
			return fmt.Errorf("%s exited; see %s", name, filepath.Join(l.logs(), name+".log"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy at %s (last: %s); see %s: %w", name, url, last, filepath.Join(l.logs(), name+".log"), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitListening waits until something accepts TCP connections at addr.
func waitListening(ctx context.Context, name, addr string, l layout, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if !processRunning(l, name) {
			return fmt.Errorf("%s exited; see %s", name, filepath.Join(l.logs(), name+".log"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not listening at %s: %w", name, addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func processRunning(l layout, name string) bool {
	pid, start, err := readPidFile(pidFile(l, name))
	return err == nil && alive(pid, start)
}

// freePorts reserves n distinct free loopback ports. The listeners are held
// until all are chosen so no port is handed out twice.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
