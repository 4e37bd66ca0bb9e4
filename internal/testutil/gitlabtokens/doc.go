// Package gitlabtokens is the part of GitLab a ws gateway talks to, for the end-to-end tests
// and the browser test's server: GET /api/v4/job and GET /api/v4/user, answered from fixed tokens,
// and projects' repositories over git's smart HTTP (git.go) with GitLab's rules for job tokens.
package gitlabtokens
