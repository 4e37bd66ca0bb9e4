// Package gitlab is every GitLab REST call ws makes: launching, restarting
// and stopping workspaces, listing them, reading job logs and checking
// tokens and runners, with retries and HTTP status → hint mapping. It uses
// gitlab.com/gitlab-org/api/client-go and never prints.
package gitlab
