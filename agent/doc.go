// Package agent is the process that runs inside the workspace job: it runs
// the plan's start-up commands, keeps the job alive, dials the gateway and
// serves shells, commands and port streams through the tunnel.
package agent
