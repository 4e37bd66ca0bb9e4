// Package schema loads devfiles with the devfile library, without network
// access or file writes unless the caller passes a fetcher, and keeps a
// yaml.v3 index from data paths to line:col so diagnostics have positions.
package schema
