// Package gateway is the server agents dial out to and users reach their
// workspaces through: it checks job and user tokens with GitLab, keeps the
// registry of connected agents, and routes shells, port streams, browser
// terminals and endpoint URLs through the tunnel. See docs/gateway.md.
package gateway
