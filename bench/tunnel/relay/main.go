// Command relay is the floor the cross-process tunnel figures are read
// against (bench/tunnel TestCrossProcess): a process that accepts TCP
// connections on -listen and joins each to a new connection to -to, both
// ways, with io.Copy (splice(2) between two TCP sockets) — the least any
// relaying process can do. Three of them in a chain have the shape of
// ws port-forward → gateway → agent, without authentication, multiplexing
// or a protocol. It prints "relay listening ADDR" once it listens.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	to := flag.String("to", "", "address to relay each connection to")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "relay listening", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		go relay(c.(*net.TCPConn), *to)
	}
}

func relay(a *net.TCPConn, to string) {
	defer a.Close()
	bc, err := net.Dial("tcp", to)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return
	}
	b := bc.(*net.TCPConn)
	defer b.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(b, a) // splice(2); a copy error ends the relay like EOF
		_ = b.CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(a, b)
	_ = a.CloseWrite()
	<-done
}
