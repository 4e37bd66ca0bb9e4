// Package ci is the typed model of the GitLab CI YAML that ws generates and
// its single encoder. Output is built from ordered structs, never from maps,
// so the same model always encodes to the same bytes.
package ci
