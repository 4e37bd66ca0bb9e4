package agent

import (
	"bytes"
	"strings"
	"testing"
)

func TestGitCredentialEnv(t *testing.T) {
	job := []string{"CI_SERVER_URL=https://gitlab.example.com/", "CI_JOB_TOKEN=tok"}
	helper := []string{"/opt/my tools/ws-agent", "git-credential"}
	got := gitCredentialEnv(append(job, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=user.name", "GIT_CONFIG_VALUE_0=A"), helper)
	want := []string{
		"GIT_CONFIG_KEY_1=credential.https://gitlab.example.com.helper",
		`GIT_CONFIG_VALUE_1=!'/opt/my tools/ws-agent' 'git-credential'`,
		"GIT_CONFIG_KEY_2=credential.https://gitlab.example.com.useHttpPath",
		"GIT_CONFIG_VALUE_2=true",
		"GIT_CONFIG_COUNT=3",
	}
	if tail := got[len(got)-len(want):]; strings.Join(tail, "\n") != strings.Join(want, "\n") {
		t.Errorf("gitCredentialEnv added\n%s\nwant\n%s", strings.Join(tail, "\n"), strings.Join(want, "\n"))
	}
	if lookupEnv(got, "GIT_CONFIG_COUNT") != "3" || lookupEnv(got, "GIT_CONFIG_KEY_0") != "user.name" {
		t.Errorf("the session's own git config entries were not kept: %q", got)
	}
	// Outside a CI job (no GitLab URL or token), or without a helper, git is left alone.
	for _, env := range [][]string{{"CI_JOB_TOKEN=tok"}, {"CI_SERVER_URL=https://gitlab.example.com"}} {
		if got := gitCredentialEnv(env, helper); len(got) != len(env) {
			t.Errorf("gitCredentialEnv(%q) = %q, want it unchanged", env, got)
		}
	}
	if got := gitCredentialEnv(job, nil); len(got) != len(job) {
		t.Errorf("without a helper: %q", got)
	}
}

func TestGitCredential(t *testing.T) {
	env := map[string]string{"CI_SERVER_URL": "https://gitlab.example.com", "CI_PROJECT_PATH": "Group/App", "CI_JOB_TOKEN": "job-tok"}
	sub := map[string]string{"CI_SERVER_URL": "https://example.com/gitlab", "CI_PROJECT_PATH": "group/app", "CI_JOB_TOKEN": "job-tok"}
	const answer = "username=gitlab-ci-token\npassword=job-tok\n"
	for _, tc := range []struct {
		env    map[string]string
		action string
		in     string
		want   string
	}{
		{env, "get", "protocol=https\nhost=gitlab.example.com\npath=group/app.git\n\n", answer},
		{env, "get", "protocol=https\nhost=gitlab.example.com\npath=Group/App\n", answer},
		{sub, "get", "protocol=https\nhost=example.com\npath=gitlab/group/app.git\n", answer},
		{env, "get", "protocol=https\nhost=gitlab.example.com\npath=group/other.git\n", ""}, // another project
		{env, "get", "protocol=https\nhost=gitlab.example.com\n", ""},                       // no path: cannot tell
		{env, "get", "protocol=http\nhost=gitlab.example.com\npath=group/app.git\n", ""},    // not over TLS as the job's GitLab
		{env, "get", "protocol=https\nhost=evil.example\npath=group/app.git\n", ""},
		{env, "store", "protocol=https\nhost=gitlab.example.com\npath=group/app.git\nusername=x\npassword=y\n", ""},
		{map[string]string{"CI_SERVER_URL": "https://gitlab.example.com", "CI_PROJECT_PATH": "group/app"}, "get", "protocol=https\nhost=gitlab.example.com\npath=group/app.git\n", ""},
	} {
		var out bytes.Buffer
		if err := GitCredential(tc.action, strings.NewReader(tc.in), &out, func(k string) string { return tc.env[k] }); err != nil {
			t.Errorf("GitCredential(%s, %q): %v", tc.action, tc.in, err)
		}
		if out.String() != tc.want {
			t.Errorf("GitCredential(%s, %q) = %q, want %q", tc.action, tc.in, out.String(), tc.want)
		}
	}
}
