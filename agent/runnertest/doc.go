// Package runnertest reproduces, against the real agent process tree, what
// GitLab Runner does to a workspace job: the Docker executor's stop (a
// descending-PID SIGTERM sweep, then a container stop), the shell
// executor's process-group kill, the stage clock of RUNNER_SCRIPT_TIMEOUT
// and the reused builds volume. Each test cites the runner source
// (gitlab-org/gitlab-runner, 19.4 development line) it follows. It has
// tests only.
package runnertest
