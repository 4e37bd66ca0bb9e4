//go:build !linux

package local

import "syscall"

func jobAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
