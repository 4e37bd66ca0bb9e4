// Package names holds the names every part of ws agrees on for a workspace:
// the CI job the compiler generates and the branch ws up commits it to. The
// compiler writes them, gitlab/ and local/ look for them, the gateway reads
// them back from a job; defining them once keeps the four in step. It
// imports nothing, so any package may use it.
package names

// WorkspaceJob is the name of the generated job that runs the workspace.
const WorkspaceJob = "workspace"

// BranchPrefix starts every workspace branch: workspace NAME lives on
// ws/NAME, which is also its resource_group.
const BranchPrefix = "ws/"

// Branch returns the branch (and resource group) of workspace name.
func Branch(name string) string { return BranchPrefix + name }
