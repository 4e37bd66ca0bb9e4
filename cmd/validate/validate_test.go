package validate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

func run(t *testing.T, dir string, args ...string) (string, string, error) {
	ios, _, out, errOut := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, WorkDir: func() (string, error) { return dir, nil }}
	cmd := NewCmdValidate(f, nil)
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "devfile.yml"), []byte("schemaVersion: 2.2.0\nmetadata:\n  name: x\ncomponents:\n  - name: dev\n    container:\n      image: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run(t, dir)
	if err != nil || out != "" || !strings.Contains(stderr, "devfile.yml: valid (1 warning)") {
		t.Errorf("err %v, stdout %q, stderr %q", err, out, stderr)
	}
}

func TestValidateJSONErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".devfile.yaml"), []byte("schemaVersion: 2.2.0\ncomponents:\n  - name: dev\n    container: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, dir, "--format", "json")
	if !errors.Is(err, cmdutil.ErrDevfileInvalid) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out, `"path": "components[0].container"`) || !strings.Contains(out, `"line": 4`) {
		t.Errorf("json = %s", out)
	}
}

func TestNoDevfile(t *testing.T) {
	_, _, err := run(t, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no devfile found") {
		t.Errorf("err = %v", err)
	}
}
