package local

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Status values of a local workspace.
const (
	StatusStarting = "starting" // supervisor up, agent not connected yet
	StatusRunning  = "running"  // agent connected to the embedded gateway
	StatusFailed   = "failed"   // the job ended or could not start; the supervisor is gone
	StatusStopping = "stopping"
	StatusStopped  = "stopped"
)

// Modes a job runs in.
const (
	ModeShell  = "shell"
	ModeDocker = "docker"
	ModePodman = "podman"
)

// State is a local workspace's state.json (mode 0600 in a 0700 directory).
// It holds the two secrets: AgentToken (the job's CI_JOB_TOKEN) and
// UserToken (what ws shell presents to the embedded gateway).
type State struct {
	Name        string `json:"name"`
	Mode        string `json:"mode"`
	Status      string `json:"status"`
	Error       string `json:"error,omitempty"`
	PID         int    `json:"pid"`         // the supervisor
	WatchdogPID int    `json:"watchdogPid"` // cleans up when the supervisor is killed
	Gateway     string `json:"gateway"`     // http://127.0.0.1:PORT, once listening
	Marker      string `json:"marker"`      // value of WS_LOCAL_ID in every job process
	ProjectDir  string `json:"projectDir"`
	Devfile     string `json:"devfile"`
	Executable  string `json:"executable"` // the ws binary: supervisor, watchdog; WS_BIN in shell mode
	// AgentBinary is the binary container mode delivers into the job.
	AgentBinary string `json:"agentBinary,omitempty"`
	// Engine describes the container engine (container modes).
	Engine string `json:"engine,omitempty"`
	// Published are the endpoints published on 127.0.0.1 (container modes).
	Published  []PublishedEndpoint `json:"published,omitempty"`
	StartedAt  time.Time           `json:"startedAt"`
	StoppedAt  time.Time           `json:"stoppedAt,omitzero"`
	AgentToken string              `json:"agentToken"`
	UserToken  string              `json:"userToken"`
}

// PublishedEndpoint is a devfile endpoint published on this host.
type PublishedEndpoint struct {
	Name       string `json:"name"`
	TargetPort int    `json:"targetPort"`
	Proto      string `json:"proto"`
	Address    string `json:"address"` // 127.0.0.1:PORT
}

// MarkerEnv is the variable every process of a local job inherits; ws down
// and the watchdog find leftover processes by it (like Jenkins' BUILD_ID
// process-tree killer).
const MarkerEnv = "WS_LOCAL_ID"

// Root returns the directory of all local workspaces:
// $XDG_STATE_HOME/ws/local, else ~/.local/state/ws/local.
func Root(getenv func(string) string) (string, error) {
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "ws", "local"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no state directory: set XDG_STATE_HOME or HOME: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "ws", "local"), nil
}

// Dir returns the state directory of workspace name.
func Dir(getenv func(string) string, name string) (string, error) {
	root, err := Root(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, name), nil
}

const stateFile = "state.json"

// ErrNotFound means there is no local workspace of that name.
var ErrNotFound = errors.New("no local workspace of that name")

// Load reads the state in dir.
func Load(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read local state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read local state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// Save writes st to dir atomically with mode 0600.
func Save(dir string, st *State) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("write local state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write local state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, stateFile))
}

// update loads, changes and saves the state in dir, under the state's lock: ws up and the
// supervisor it started (two processes) update the same file, and a change made between
// another's load and save was lost (ws up saved the supervisor's PID over the gateway
// address the supervisor had just written: ws shell then had no gateway to reach).
func update(dir string, f func(*State)) (*State, error) {
	unlock, err := lockState(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := Load(dir)
	if err != nil {
		return nil, err
	}
	f(st)
	return st, Save(dir, st)
}

// Summary is one local workspace in 'ws list'.
type Summary struct {
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	Mode      string    `json:"mode"`
	Gateway   string    `json:"gateway,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	Error     string    `json:"error,omitempty"`
	// ProjectDir is the directory the workspace was started from.
	ProjectDir string `json:"projectDir,omitempty"`
}

// List returns every local workspace, sorted by name. A workspace whose
// supervisor died without saying so is reported failed.
func List(getenv func(string) string) ([]Summary, error) {
	root, err := Root(getenv)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list local workspaces: %w", err)
	}
	var out []Summary
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		st, err := Load(filepath.Join(root, e.Name()))
		if err != nil {
			continue
		}
		s := Summary{Name: st.Name, Status: effectiveStatus(st), Mode: st.Mode, StartedAt: st.StartedAt, Error: st.Error, ProjectDir: st.ProjectDir}
		if s.Status == StatusRunning || s.Status == StatusStarting {
			s.Gateway = st.Gateway
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// effectiveStatus is st.Status, corrected when the supervisor is gone.
func effectiveStatus(st *State) string {
	switch st.Status {
	case StatusStopped, StatusFailed:
		return st.Status
	}
	if !alive(st.PID) {
		return StatusFailed
	}
	return st.Status
}

// Find returns the state of local workspace name (ErrNotFound if none).
func Find(getenv func(string) string, name string) (*State, error) {
	dir, err := Dir(getenv, name)
	if err != nil {
		return nil, err
	}
	st, err := Load(dir)
	if err != nil {
		return nil, err
	}
	st.Status = effectiveStatus(st)
	return st, nil
}

// Active reports whether the workspace's supervisor should be running.
func (st *State) Active() bool {
	return st.Status == StatusStarting || st.Status == StatusRunning || st.Status == StatusStopping
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
