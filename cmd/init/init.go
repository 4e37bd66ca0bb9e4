// Package init implements 'ws init': write a starter .devfile.yaml for the
// project in the current directory, from an offline template for the
// detected language or, with --allow-network, from a devfile registry stack.
package init

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/schema"
)

// DefaultRegistry is the public devfile registry 'ws init --stack' reads.
const DefaultRegistry = "https://registry.devfile.io"

// FileName is the devfile 'ws init' writes (GitLab's convention).
const FileName = ".devfile.yaml"

// InitOptions are the inputs of 'ws init'.
type InitOptions struct {
	IO      *cmdutil.IOStreams
	WorkDir func() (string, error)

	Dir          string // where to write; default the current directory
	Name         string
	Language     string // --language: skip detection
	Stack        string
	Registry     string
	AllowNetwork bool
	HTTPTimeout  time.Duration
	Force        bool
	cmdutil.OutputFlags
}

// Result is the JSON shape of 'ws init --output json'.
type Result struct {
	Devfile    string `json:"devfile"`
	Name       string `json:"name"`
	Language   string `json:"language"`   // "" with --stack
	DetectedBy string `json:"detectedBy"` // the file that gave the language away; "" when none did
	Stack      string `json:"stack"`      // the registry stack, with --stack
}

// NewCmdInit returns 'ws init'. runF replaces initRun in tests.
func NewCmdInit(f *cmdutil.Factory, runF func(*InitOptions) error) *cobra.Command {
	opts := &InitOptions{IO: f.IO, WorkDir: f.WorkDir}
	cmd := &cobra.Command{
		GroupID: "devfile",
		Use:     "init [DIR] [--stack NAME --allow-network]",
		Short:   "Write a starter .devfile.yaml for this project",
		Long: `Write a starter .devfile.yaml into DIR (default: the current directory) so
that 'ws up' has something to run.

Without --stack, the devfile comes from a template built into ws for the
language the directory's files show (go.mod: Go, package.json: Node.js,
pyproject.toml or requirements.txt: Python, pom.xml: Java with Maven,
build.gradle: Java with Gradle, Cargo.toml: Rust, Gemfile: Ruby,
composer.json: PHP, *.csproj or *.sln: .NET; anything else gets a general
image with git and build tools). It works offline and writes the same bytes
every time. --language picks a template yourself.

With --stack NAME and --allow-network, the devfile of that stack is fetched
from a devfile registry (default ` + DefaultRegistry + `), its
metadata.name set to the workspace name, and it is written only if ws can
compile it.

An existing devfile is never overwritten without --force. Every devfile is
checked with the compiler before it is written.`,
		Example: `  $ ws init
  $ ws init --language python --name api
  $ ws init --stack nodejs --allow-network`,
		Args: cmdutil.UsageArgs("init", cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			if err := opts.OutputFlags.Check(c); err != nil {
				return err
			}
			if opts.Stack != "" && !opts.AllowNetwork {
				return cmdutil.FlagErrorf("init", "--stack fetches from a devfile registry: add --allow-network")
			}
			if opts.Stack != "" && opts.Language != "" {
				return cmdutil.FlagErrorf("init", "give --stack or --language, not both")
			}
			if opts.Language != "" && languageByName(opts.Language) == nil {
				return cmdutil.FlagErrorf("init", "unknown --language %q: want one of %s", opts.Language, strings.Join(languageNames(), ", "))
			}
			if runF != nil {
				return runF(opts)
			}
			return initRun(c.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Name, "name", "", "workspace `NAME` written as metadata.name (default: the directory's name)")
	fl.StringVar(&opts.Language, "language", "", "template to use instead of detecting one: "+strings.Join(languageNames(), ", "))
	fl.StringVar(&opts.Stack, "stack", "", "devfile registry stack `NAME` (e.g. go, nodejs, python); needs --allow-network")
	fl.StringVar(&opts.Registry, "registry", DefaultRegistry, "devfile registry `URL` for --stack")
	fl.BoolVar(&opts.AllowNetwork, "allow-network", false, "allow --stack to fetch from the registry")
	fl.DurationVar(&opts.HTTPTimeout, "http-timeout", 30*time.Second, "timeout of the registry request")
	fl.BoolVar(&opts.Force, "force", false, "overwrite an existing .devfile.yaml")
	cmdutil.AddOutputFlags(cmd, &opts.OutputFlags)
	_ = cmd.RegisterFlagCompletionFunc("language", cmdutil.FixedCompletion(languageNames()...))
	cmd.ValidArgsFunction = func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	return cmd
}

func initRun(ctx context.Context, opts *InitOptions) error {
	wd, err := opts.WorkDir()
	if err != nil {
		return err
	}
	dir := wd
	if opts.Dir != "" {
		dir = opts.Dir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(wd, dir)
		}
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return cmdutil.FlagErrorf("init", "%s is not a directory", opts.Dir)
	}
	if existing, err := pipeline.Find(dir, ""); err == nil && !opts.Force {
		return &cmdutil.HintError{Err: fmt.Errorf("%s already exists", display(wd, existing)),
			Hint: "keep it (ws up uses it), or pass --force to write a new " + FileName}
	}
	name := opts.Name
	if name == "" {
		name = workspaceName(filepath.Base(dir))
	}
	res := Result{Name: name}
	var data []byte
	if opts.Stack != "" {
		res.Stack = opts.Stack
		data, err = fetchStack(ctx, opts, name)
	} else {
		lang, by := detect(dir)
		if opts.Language != "" {
			lang, by = languageByName(opts.Language), ""
		}
		res.Language, res.DetectedBy = lang.Name, by
		data, err = Render(lang, name, by)
	}
	if err != nil {
		return err
	}
	// Check it with the compiler before writing it.
	tmp, err := os.MkdirTemp("", "ws-init-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, FileName), data, 0o644); err != nil {
		return err
	}
	cres, err := pipeline.CompileFile(tmp, FileName, compiler.Options{Name: name})
	if err != nil {
		return err
	}
	if cres.Diags.HasErrors() {
		_ = cres.Diags.WriteText(opts.IO.ErrOut)
		return &cmdutil.HintError{Err: fmt.Errorf("the devfile of stack %q does not compile for ws; nothing was written", opts.Stack),
			Hint: "try another stack, or 'ws init' without --stack for a built-in template"}
	}
	target := filepath.Join(dir, FileName)
	if err := cmdutil.WriteFileAtomic(target, data); err != nil {
		return err
	}
	res.Devfile = display(wd, target)
	if opts.JSON() {
		return opts.Write(opts.IO.Out, res)
	}
	from := "a general template (no language detected)"
	switch {
	case res.Stack != "":
		from = "registry stack " + res.Stack
	case res.DetectedBy != "":
		from = fmt.Sprintf("the %s template (found %s)", languageByName(res.Language).Title, res.DetectedBy)
	case res.Language != "generic":
		from = fmt.Sprintf("the %s template", languageByName(res.Language).Title)
	}
	fmt.Fprintf(opts.IO.Out, "wrote %s for workspace %s from %s\n", res.Devfile, name, from)
	fmt.Fprintf(opts.IO.Out, "next: check it with 'ws validate', try it here with 'ws up --local', or launch it on GitLab with 'ws up'\n")
	return nil
}

func display(wd, p string) string {
	if rel, err := filepath.Rel(wd, p); err == nil && filepath.IsLocal(rel) {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(p)
}

// workspaceName turns a directory name into a workspace name as the
// compiler would, with "workspace" when nothing is left of it.
func workspaceName(dir string) string {
	if n := compiler.WorkspaceName(dir); n != "" {
		return n
	}
	return "workspace"
}

//go:embed devfile.yaml.tmpl
var templateFS embed.FS

var devfileTemplate = template.Must(template.ParseFS(templateFS, "devfile.yaml.tmpl"))

// Render returns the starter devfile for lang. detectedBy, when not empty,
// is named in its header comment.
func Render(lang *Language, name, detectedBy string) ([]byte, error) {
	var buf bytes.Buffer
	err := devfileTemplate.Execute(&buf, struct {
		*Language
		WorkspaceName, DetectedBy string
	}{lang, name, detectedBy})
	return buf.Bytes(), err
}

// fetchStack reads a stack's devfile from the registry and sets its
// metadata.name, keeping the rest (and its comments) as it is.
func fetchStack(ctx context.Context, opts *InitOptions, name string) ([]byte, error) {
	base, err := url.Parse(opts.Registry)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, cmdutil.FlagErrorf("init", "invalid --registry %q: want a URL like %s", opts.Registry, DefaultRegistry)
	}
	u := strings.TrimRight(opts.Registry, "/") + "/devfiles/" + url.PathEscape(opts.Stack)
	ctx, cancel := context.WithTimeout(ctx, opts.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/x-yaml, text/yaml, */*")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &cmdutil.HintError{Err: fmt.Errorf("fetch stack %s: %w", opts.Stack, err), Hint: "check the network and --registry, or run 'ws init' without --stack (offline templates)"}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, &cmdutil.HintError{Err: fmt.Errorf("the registry %s has no stack %q", opts.Registry, opts.Stack),
			Hint: "see the stacks at " + strings.TrimRight(opts.Registry, "/") + "/index"}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch stack %s from %s: %s", opts.Stack, opts.Registry, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, schema.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch stack %s: %w", opts.Stack, err)
	}
	if len(body) > schema.MaxSize {
		return nil, fmt.Errorf("the devfile of stack %s is larger than %d bytes", opts.Stack, schema.MaxSize)
	}
	return setName(body, name)
}

// setName sets metadata.name in a devfile, editing the YAML nodes in place.
func setName(data []byte, name string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the registry's answer is not a devfile (YAML mapping)")
	}
	root := doc.Content[0]
	meta := mapValue(root, "metadata")
	if meta == nil {
		meta = &yaml.Node{Kind: yaml.MappingNode}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "metadata"}, meta)
	}
	if n := mapValue(meta, "name"); n != nil {
		n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, "!!str", name, 0
	} else {
		meta.Content = append([]*yaml.Node{{Kind: yaml.ScalarNode, Value: "name"}, {Kind: yaml.ScalarNode, Value: name}}, meta.Content...)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return out.Bytes(), enc.Close()
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
