// Package templates holds ws's GitLab CI/CD component (workspace.yml); its
// tests validate the component against GitLab's CI schema.
package templates
