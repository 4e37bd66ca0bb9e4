// Package tunnel is the wire between the agent, the gateway and the CLI: a
// WebSocket carrying a yamux session, one yamux stream per shell, command or
// TCP connection, each opened with a JSON header line. See docs/tunnel.md.
package tunnel
