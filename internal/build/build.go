// Package build holds the version information stamped in at link time.
package build

import "runtime/debug"

// Set by -ldflags "-X github.com/ws-dev/ws/internal/build.Version=... ".
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

func init() {
	if Version != "dev" {
		return
	}
	// Without ldflags (go install, go run), fall back to the module version.
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		Version = info.Main.Version
	}
}
