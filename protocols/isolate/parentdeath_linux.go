package isolate

import (
	"os/exec"
	"syscall"
)

// setParentDeath has the kernel kill the agent if the appliance dies, even
// by SIGKILL, so no agent outlives it holding a device connection.
func setParentDeath(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
