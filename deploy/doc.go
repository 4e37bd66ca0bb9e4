// Package deploy holds no code: deploy/ has the ws container image
// definition, the gateway's Helm chart and plain Kubernetes manifests, and
// this package's tests check them and the release configuration.
package deploy
