package root

import "github.com/spf13/cobra"

const exitCodesHelp = `ws exits with one of these codes:

  0  success (warnings may have been printed)
  1  failure: network error, GitLab server error, a pipeline that did not start,
     a remote command that failed to run
  2  usage error: unknown flag, bad flag value, missing argument
  3  the devfile is invalid: diagnostics were printed (FILE:LINE:COL: error: ...)
  4  authentication: no GitLab token, or GitLab rejected it (401/403)
  130  interrupted (Ctrl-C or SIGTERM) before the command finished

'ws shell NAME -- CMD' exits with the remote command's own exit status.
`

const environmentHelp = `Environment variables ws reads (flags win over them):

GitLab access (ws up, restart, down, list, status, logs, auth, doctor, shell, open):
  GITLAB_HOST          GitLab instance URL; --host wins. Without it: GITLAB_URI, GL_HOST,
                       CI_SERVER_URL (only when GITLAB_CI=true, inside a CI job), the git
                       remote of the current repository, glab's config, https://gitlab.com
  GITLAB_URI, GL_HOST  glab's other names for GITLAB_HOST
  CI_SERVER_URL        the GitLab of the CI job ws runs in (with GITLAB_CI=true)
  GITLAB_TOKEN         personal access token with the api scope; --token wins
  GITLAB_ACCESS_TOKEN  used when GITLAB_TOKEN is unset
  OAUTH_TOKEN          used when the two above are unset
  GLAB_CONFIG_DIR      where glab's config.yml is (default $XDG_CONFIG_HOME/glab-cli or
                       ~/.config/glab-cli); read-only: host, api_protocol, api_host, token;
                       a token 'glab auth login' put in the OS keyring is read from there

Gateway (ws shell, port-forward, open, up):
  WS_GATEWAY_URL       base URL of the ws gateway; --gateway wins
  BROWSER              programs that open a URL (colon-separated; %s is the URL)

ws gateway serve (each also a flag and a config-file key; see docs/gateway.md):
  WS_GATEWAY_CONFIG, WS_GATEWAY_LISTEN, WS_GATEWAY_GITLAB_URL, WS_GATEWAY_PUBLIC_URL,
  WS_GATEWAY_ALLOWED_ORIGINS, WS_GATEWAY_OAUTH_CLIENT_ID, WS_GATEWAY_OAUTH_CLIENT_SECRET, ...

ws agent (inside the workspace job; set by the generated job):
  WS_PLAN              the workspace plan (JSON) compiled into the job
  CI_JOB_TOKEN         the job's token; the agent's only credential
  WS_AGENT_GATEWAY     overrides the plan's gateway URL
  WS_AGENT_LOG         the agent's log file (default /tmp/ws-agent.log)

ws up --local:
  WS_LOCAL_ENGINE      shell, docker or podman (default: a usable engine, else shell)
  XDG_STATE_HOME       local workspaces' state lives in $XDG_STATE_HOME/ws/local
                       (default ~/.local/state/ws/local)

ws's own files:
  WS_CONFIG_DIR        where ws's config.yml is (default $XDG_CONFIG_HOME/ws or ~/.config/ws);
                       its 'dotfiles: REPO' is the default of 'ws up --dotfiles'
  XDG_CACHE_HOME       shell completion caches workspace names in $XDG_CACHE_HOME/ws
                       (default ~/.cache/ws) for a minute

Output and tests:
  NO_COLOR             disable colour in terminal output (TERM=dumb too)
  WS_UPDATE            tests only: rewrite golden files when set to 1

Tokens are never printed; 'ws auth status' says which one is used and where it
came from.
`

func helpTopic(name, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			cmd.Print(cmd.Long)
		},
		Annotations: map[string]string{"helpTopic": "true"},
	}
}
