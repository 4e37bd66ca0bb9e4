//go:build !linux

package agent

import "syscall"

// sentinelAttr: no parent-death signal here; a sentinel still ends when
// its stdin (the agent's pipe) closes.
func sentinelAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
