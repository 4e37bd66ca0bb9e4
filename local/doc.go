// Package local runs a compiled workspace job on this machine ('ws up
// --local'): a detached supervisor embeds a gateway on 127.0.0.1, runs the
// job on the host shell or in a container engine, and cleans up everything
// it started. See docs/local.md.
package local
