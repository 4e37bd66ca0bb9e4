// Package runner implements 'ws runner', which prints the GitLab Runner
// configuration that workspace jobs need.
package runner
