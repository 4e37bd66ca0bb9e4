package local

import "syscall"

// jobAttr puts the job in its own process group and kills it when the
// supervisor dies, however it dies.
func jobAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
