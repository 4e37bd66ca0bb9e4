package attach

import (
	"os"
	"path/filepath"
	"strings"
)

// SSHAlias is a workspace's SSH host name in the entries 'ws config-ssh' writes, the one that
// never clashes: ws.NAME.PROJECT, PROJECT being the GitLab project's path with dots for
// slashes, or "local" for a local workspace (project "" or "-"). When no other workspace has
// the name, ws.NAME is written too.
func SSHAlias(name, project string) string {
	p := "local"
	if project != "" && project != "-" {
		p = strings.ReplaceAll(strings.ToLower(project), "/", ".")
	}
	return "ws." + name + "." + p
}

// SSHDir is the directory ws keeps its SSH entries and pinned host keys in, next to the SSH
// config sshConfig (default ~/.ssh/config): config, and known_hosts/<alias>.
func SSHDir(getenv func(string) string, sshConfig string) (string, error) {
	if sshConfig == "" {
		home := getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return "", err
			}
		}
		sshConfig = filepath.Join(home, ".ssh", "config")
	}
	abs, err := filepath.Abs(sshConfig)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(abs), "ws"), nil
}
