package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/itchyny/gojq"
	"github.com/spf13/cobra"
)

// Output formats accepted by --output.
const (
	OutputText = "text"
	OutputJSON = "json"
)

// JSONVersion is the version of the JSON contract every --output json
// shape follows (docs/json.md): fields are only ever added within a
// version; a removed or retyped field raises it.
const JSONVersion = 1

// OutputFlags are --output {text|json} and --jq, the same on every command
// (one meaning per flag name).
type OutputFlags struct {
	Output string // --output: text or json
	JQ     string // --jq: a jq expression applied to the JSON output; implies --output json

	query *gojq.Code
}

// AddOutputFlags adds --output and --jq to cmd, bound to fl.
func AddOutputFlags(cmd *cobra.Command, fl *OutputFlags) {
	cmd.Flags().StringVar(&fl.Output, "output", OutputText, "output format: text or json")
	cmd.Flags().StringVarP(&fl.JQ, "jq", "q", "", "filter the JSON output with a jq `EXPRESSION` (implies --output json)")
	_ = cmd.RegisterFlagCompletionFunc("output", FixedCompletion(OutputText, OutputJSON))
	_ = cmd.RegisterFlagCompletionFunc("jq", cobra.NoFileCompletions)
}

// Check validates the flags of c (a usage error names it) and compiles
// --jq; call it from RunE before anything else.
func (fl *OutputFlags) Check(c *cobra.Command) error {
	cmd := CommandName(c)
	if fl.JQ != "" {
		if fl.Output == OutputText && c.Flags().Changed("output") {
			return FlagErrorf(cmd, "--jq filters JSON: drop --output text")
		}
		fl.Output = OutputJSON
		q, err := gojq.Parse(fl.JQ)
		if err != nil {
			return FlagErrorf(cmd, "invalid --jq expression: %v", err)
		}
		code, err := gojq.Compile(q)
		if err != nil {
			return FlagErrorf(cmd, "invalid --jq expression: %v", err)
		}
		fl.query = code
	}
	return CheckFormat(cmd, "output", fl.Output)
}

// JSON reports whether the output is JSON.
func (fl *OutputFlags) JSON() bool { return fl.Output == OutputJSON || fl.JQ != "" }

// Write prints v as JSON (indented), or the results of --jq on it: strings
// raw, anything else as compact JSON, one per line (as gh does).
func (fl *OutputFlags) Write(w io.Writer, v any) error {
	if fl.query == nil {
		return WriteJSON(w, v)
	}
	return fl.filter(w, v)
}

// WriteLine prints v as one line of JSON (a stream: 'ws logs -f', 'ws
// port-forward'), or the results of --jq on it.
func (fl *OutputFlags) WriteLine(w io.Writer, v any) error {
	if fl.query == nil {
		b, err := marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	return fl.filter(w, v)
}

func (fl *OutputFlags) filter(w io.Writer, v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	var in any
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("--jq: %w", err)
	}
	iter := fl.query.Run(in)
	var out bytes.Buffer
	for {
		r, ok := iter.Next()
		if !ok {
			break
		}
		if e, isErr := r.(error); isErr {
			if h, halt := e.(*gojq.HaltError); halt && h.Value() == nil {
				break
			}
			return fmt.Errorf("--jq: %w", e)
		}
		if s, isString := r.(string); isString {
			out.WriteString(s)
		} else {
			b, err := marshal(r)
			if err != nil {
				return fmt.Errorf("--jq: %w", err)
			}
			out.Write(b)
		}
		out.WriteByte('\n')
	}
	_, err = w.Write(out.Bytes())
	return err
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("write json: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// CheckFormat validates a text|json flag value.
func CheckFormat(cmd, flag, value string) error {
	if value != OutputText && value != OutputJSON {
		return FlagErrorf(cmd, "invalid --%s %q: want text or json", flag, value)
	}
	return nil
}

// WriteJSON writes v as indented JSON followed by a newline. Field order
// comes from struct definitions, so output is stable.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// CommandName is c's path after "ws" ("auth status"), as FlagError.Cmd wants it.
func CommandName(c *cobra.Command) string {
	p := c.CommandPath()
	if c.Root().Name() != "ws" { // a command built alone (tests)
		return p
	}
	_, rest, _ := strings.Cut(p, " ")
	return rest
}

// FixedCompletion completes a flag or argument from a fixed list of values.
func FixedCompletion(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// AddOutputFlag adds --output {text|json} bound to target, for commands
// that have no JSON filter (--jq) yet; the flag means the same everywhere.
func AddOutputFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVar(target, "output", OutputText, "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", FixedCompletion(OutputText, OutputJSON))
}

// WriteFileAtomic writes data to a temporary file beside name and renames
// it into place, so readers never see a partial file. A symbolic link is
// followed (the file it points to is replaced, not the link), and a name
// that is not a regular file (/dev/null, /dev/stdout, a named pipe) is
// written in place: renaming over a device would replace it.
func WriteFileAtomic(name string, data []byte) error {
	if resolved, err := filepath.EvalSymlinks(name); err == nil {
		name = resolved
	}
	if fi, err := os.Stat(name); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return fmt.Errorf("write %s: is a directory", name)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
