package root

import "github.com/spf13/cobra"

const exitCodesHelp = `ws exits with one of these codes:

  0  success (warnings may have been printed)
  1  failure: network error, GitLab server error, a pipeline that did not start,
     a remote command that failed to run
  2  usage error: unknown flag, bad flag value, missing argument
  3  the devfile is invalid: diagnostics were printed (FILE:LINE:COL: error: ...)
  4  authentication: no GitLab token, or GitLab rejected it (401/403)

'ws shell NAME -- CMD' exits with the remote command's own exit status.
`

const environmentHelp = `Environment variables ws reads:

  GITLAB_HOST          GitLab instance URL (default https://gitlab.com)
  GITLAB_TOKEN         GitLab personal access token with the api scope
  GITLAB_ACCESS_TOKEN  used when GITLAB_TOKEN is unset
  OAUTH_TOKEN          used when the two above are unset
  WS_GATEWAY_URL       base URL of the ws gateway (ws shell, port-forward, open)
  WS_UPDATE            tests only: rewrite golden files when set to 1
  NO_COLOR             disable colour in terminal output

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
