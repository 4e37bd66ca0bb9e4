package runnertest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// On the Docker executor with GIT_STRATEGY fetch (the default) the builds
// dir, $CI_BUILDS_DIR, is a volume the runner keeps and mounts again for the
// project's later jobs (gitlab-runner executors/docker createBuildVolume:
// volumesManager.Create; only other strategies get CreateTemporary), and
// services get the same binds (createHostConfigForService). Service
// containers are removed with force at cleanup: SIGKILL, no SIGTERM.

// service runs the agent service's command ('ws-agent inject') for job id
// on the builds volume, as the service container would, and waits until it
// has delivered the agent.
func service(t *testing.T, builds, id string) *job {
	t.Helper()
	j := start(t, builds, []string{"WS_TEST_AGENT_MAIN=1", "CI_BUILDS_DIR=" + builds, "CI_JOB_ID=" + id},
		nil, os.Args[0], "inject")
	j.waitFor("ws-agent: delivered")
	return j
}

func removedForce(t *testing.T, j *job) {
	t.Helper()
	_ = j.cmd.Process.Signal(syscall.SIGKILL)
	if _, ok := j.wait(time.Minute); !ok {
		t.Fatal("service did not die")
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestReusedBuildsVolumeDoesNotPileUp: a job whose after_script never ran
// (a job timeout) leaves its delivery on the volume; the next job's service
// removes it, and never removes one a running job's service holds (a
// builds dir shared by concurrent jobs through a host mount).
func TestReusedBuildsVolumeDoesNotPileUp(t *testing.T) {
	builds := t.TempDir() // the volume
	first := service(t, builds, "101")
	bin101 := filepath.Join(builds, ".ws-agent", "101", "ws-agent")
	if fi, err := os.Stat(bin101); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("delivery %s: %v", bin101, err)
	}
	removedForce(t, first) // job 101 ends without after_script

	running := service(t, builds, "102") // the next job, still running
	if exists(filepath.Join(builds, ".ws-agent", "101")) {
		t.Errorf("job 101's delivery is still on the volume after job 102's service started")
	}
	concurrent := service(t, builds, "103")
	if !exists(filepath.Join(builds, ".ws-agent", "102", "ws-agent")) {
		t.Errorf("job 103's service removed the delivery of job 102, which still runs")
	}
	// A graceful stop (SIGTERM) removes the service's own delivery.
	_ = concurrent.cmd.Process.Signal(syscall.SIGTERM)
	if _, ok := concurrent.wait(time.Minute); !ok {
		t.Fatal("service 103 ignored SIGTERM")
	}
	if exists(filepath.Join(builds, ".ws-agent", "103")) {
		t.Errorf("service 103 left its delivery after SIGTERM")
	}
	removedForce(t, running)
	entries, _ := os.ReadDir(filepath.Join(builds, ".ws-agent"))
	if len(entries) != 1 {
		t.Errorf("volume holds %d deliveries, want 1 (job 102's, until the next job)", len(entries))
	}
}
