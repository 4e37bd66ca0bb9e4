// Package proctree keeps every process a workspace starts, however it
// detaches (a double fork, setsid, a new process group, env -i), so that a
// stop can end all of them: in a cgroup v2 of its own where one can be made,
// else with this process as the child subreaper that orphans come back to.
package proctree
