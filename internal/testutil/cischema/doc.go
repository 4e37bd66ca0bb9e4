// Package cischema validates generated GitLab CI YAML against GitLab's
// official CI JSON schema (../shared/corpus/schemas/gitlab-ci/ci.json).
// Only tests and test-like tools (fuzz targets) import it.
package cischema
