//go:build !linux

package isolate

import "os/exec"

// setParentDeath: elsewhere the agent ends when its standard input closes.
func setParentDeath(*exec.Cmd) {}
