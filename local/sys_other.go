//go:build !linux

package local

import (
	"net"
	"syscall"
)

func jobAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// listenFreebind is a plain listen: container mode needs Linux (engine.go).
func listenFreebind(addr string) (net.Listener, error) { return net.Listen("tcp4", addr) }
