package agent

// Getting work out over HTTPS (docs/ssh.md, "Pushing your work"): the workspace's git asks
// the agent's binary for credentials of the job's GitLab, and gets the job's own token, for
// the job's own project only. GitLab (17.2+, when the project allows "Git push requests to
// the repository" for job tokens) accepts it for a push as the user who launched the
// workspace, with that user's rights, until the job ends. Nothing is written to disk: git
// learns of the helper from the session's environment (GIT_CONFIG_COUNT, git ≥ 2.31).

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// gitCredentialEnv returns env with git told, through GIT_CONFIG_COUNT/KEY_n/VALUE_n (the
// entries already there kept), to ask helper for credentials of the job's GitLab
// (CI_SERVER_URL), sending paths (useHttpPath) so the helper can tell the job's project from
// others. Without a helper, a GitLab URL or a job token, env is returned unchanged.
func gitCredentialEnv(env []string, helper []string) []string {
	server := strings.TrimRight(lookupEnv(env, "CI_SERVER_URL"), "/")
	if len(helper) == 0 || server == "" || lookupEnv(env, "CI_JOB_TOKEN") == "" {
		return env
	}
	n, err := strconv.Atoi(lookupEnv(env, "GIT_CONFIG_COUNT"))
	if err != nil || n < 0 {
		n = 0
	}
	quoted := make([]string, len(helper))
	for i, h := range helper {
		quoted[i] = shellQuote(h)
	}
	set := [][2]string{
		// "!": a shell command, so a path with spaces survives.
		{"credential." + server + ".helper", "!" + strings.Join(quoted, " ")},
		{"credential." + server + ".useHttpPath", "true"},
	}
	out := append([]string(nil), env...)
	for i, kv := range set {
		out = append(out, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", n+i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", n+i, kv[1]))
	}
	return append(out, "GIT_CONFIG_COUNT="+strconv.Itoa(n+len(set)))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// GitCredential is the workspace's git credential helper (git's credential helper protocol:
// action get, store or erase, the request on in). A get for the job's GitLab (the scheme and
// host of CI_SERVER_URL) whose path is the job's project (CI_PROJECT_PATH, with or without
// .git) is answered with username gitlab-ci-token and the job's CI_JOB_TOKEN; any other
// request gets no answer, so git asks its next helper or the user. store and erase do
// nothing: the token is the job's, never kept.
func GitCredential(action string, in io.Reader, out io.Writer, getenv func(string) string) error {
	if action != "get" {
		_, _ = io.Copy(io.Discard, in)
		return nil
	}
	req := map[string]string{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			req[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	tok := getenv("CI_JOB_TOKEN")
	if tok == "" || !jobProject(getenv("CI_SERVER_URL"), getenv("CI_PROJECT_PATH"), req) {
		return nil
	}
	_, err := fmt.Fprintf(out, "username=gitlab-ci-token\npassword=%s\n", tok)
	return err
}

// jobProject reports whether a credential request names the job's GitLab and project.
func jobProject(server, project string, req map[string]string) bool {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || u.Host == "" || project == "" {
		return false
	}
	if req["protocol"] != u.Scheme || !strings.EqualFold(req["host"], u.Host) {
		return false
	}
	p := strings.TrimSuffix(strings.Trim(req["path"], "/"), ".git")
	want := strings.Trim(strings.TrimPrefix(u.Path, "/")+"/"+project, "/")
	return strings.EqualFold(p, want)
}
