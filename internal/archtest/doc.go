// Package archtest holds only a test: it checks the package boundaries that
// docs/architecture.md promises (a pure compiler, GitLab access only in
// gitlab/, test helpers never in production code).
package archtest
