package agent

import "syscall"

// sentinelAttr ends a sentinel with the agent, however the agent ends.
func sentinelAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
