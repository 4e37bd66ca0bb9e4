// Package schema loads devfiles with the devfile library's light packages
// (JSON schemas, types, validation; not its parser, which links Kubernetes,
// registry and Git clients), without network access or file writes unless
// the caller passes a fetcher, and keeps a yaml.v3 index from data paths to
// line:col so diagnostics have positions.
package schema
