package local

import (
	"context"
	"net"
	"syscall"
)

// jobAttr puts the job in its own process group and kills it when the
// supervisor dies, however it dies.
func jobAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// listenFreebind listens on addr even when no interface has its address
// yet (IP_FREEBIND): a new engine network's bridge appears with the
// network's first container.
func listenFreebind(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp4", addr)
}
