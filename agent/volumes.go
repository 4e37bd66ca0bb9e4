package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ws-dev/ws/plan"
)

// prepareVolumes makes the plan's volumes before postStart (docs/agent-injection.md): an
// ephemeral volume is a directory at its path; a persistent one lives in the project under
// its Dir (which the job cache saves and restores) and its path becomes a symlink to it. The
// image's content at a persistent path seeds an empty Dir; a Dir restored from the cache
// wins over it. A path that is already a mount point (ws up --local mounts the volumes
// itself) is left alone, and so is every path outside a container (a shell runner's host).
// Failures are logged, not fatal: the workspace still starts, and the line says which
// volume and why.
func (a *Agent) prepareVolumes() {
	if len(a.cfg.Plan.Volumes) == 0 {
		return
	}
	if !inContainer(a.cfg.Env) {
		// A shell runner or ws up --local in shell mode: the paths are the host's own (a
		// developer's ~/.m2, say); making or replacing them would change the machine.
		names := make([]string, 0, len(a.cfg.Plan.Volumes))
		for _, v := range a.cfg.Plan.Volumes {
			names = append(names, v.Name+" at "+v.Path)
		}
		a.logf("not in a container (a shell runner?): volumes left to the machine as they are: %s", strings.Join(names, ", "))
		return
	}
	project := lookupEnv(a.cfg.Env, "CI_PROJECT_DIR")
	if project == "" {
		project = a.cfg.Plan.WorkingDir
	}
	for _, v := range a.cfg.Plan.Volumes {
		if err := prepareVolume(v, project, a.isMountPoint); err != nil {
			a.logf("volume %s at %s: %v; commands that use it may fail", v.Name, v.Path, err)
		}
	}
}

// inContainer reports whether the agent runs in a container of its own (Docker, Podman,
// Kubernetes), where the devfile's paths belong to the workspace.
var inContainer = func(env []string) bool {
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	return lookupEnv(env, "KUBERNETES_SERVICE_HOST") != ""
}

func prepareVolume(v plan.Volume, project string, isMount func(string) bool) error {
	p := filepath.Clean(v.Path)
	if !filepath.IsAbs(p) || p == "/" {
		return errors.New("not an absolute path below /: left alone")
	}
	if isMount(p) {
		return nil
	}
	if !v.Persistent {
		return os.MkdirAll(p, 0o755)
	}
	if project == "" || v.Dir == "" {
		return errors.New("no project directory to keep it in ($CI_PROJECT_DIR): made it a plain directory")
	}
	if overlaps(p, project) {
		return fmt.Errorf("overlaps the project directory %s: left alone", project)
	}
	dir := filepath.Join(project, filepath.FromSlash(v.Dir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.Symlink(dir, p)
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		if target, _ := os.Readlink(p); target == dir {
			return nil // prepared before (a restarted agent)
		}
	}
	if same(p, dir) {
		return nil // the path already is the kept directory (a bind mount)
	}
	if fi.IsDir() {
		empty, err := isEmptyDir(dir)
		if err != nil {
			return err
		}
		if empty {
			// The image's content seeds the volume, as a new named volume is seeded.
			if err := copyTree(p, dir); err != nil {
				return fmt.Errorf("copy the image's content into %s: %w", v.Dir, err)
			}
		}
	}
	if err := os.RemoveAll(p); err != nil {
		return err
	}
	return os.Symlink(dir, p)
}

// overlaps reports whether a and b are the same directory or one contains the other.
func overlaps(a, b string) bool {
	a, b = filepath.Clean(a), filepath.Clean(b)
	within := func(x, y string) bool { return x == y || strings.HasPrefix(x, y+string(filepath.Separator)) }
	return within(a, b) || within(b, a)
}

func same(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// copyTree copies the directory src's content into dst (which exists): directories, regular
// files and symlinks, with their permission bits.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil || rel == "." {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(to, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case info.Mode().IsRegular():
			return copyFile(path, to, info.Mode().Perm())
		}
		return nil // sockets, devices, pipes: not content
	})
}

func copyFile(from, to string, perm fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// isMountPoint reports whether path is a mount point of this process's mount namespace
// (/proc/self/mountinfo); false where that cannot be read.
func (a *Agent) isMountPoint(path string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	return mountInfoHas(f, path)
}

// mountInfoHas reports whether the mountinfo table r lists path as a mount point (field 5,
// with the kernel's octal escapes for space, tab, newline and backslash).
func mountInfoHas(r io.Reader, path string) bool {
	path = filepath.Clean(path)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 4 && unescapeMountPath(f[4]) == path {
			return true
		}
	}
	return false
}

func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}
