// Package e2e holds the end-to-end tests of the agent, the gateway and the
// workspace commands, on loopback with a fake GitLab.
package e2e
