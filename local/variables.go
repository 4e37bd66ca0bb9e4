package local

import (
	"fmt"
	"os"
	"strings"
)

// Variable is a job variable; Literal ones are not expanded (expand: false,
// which a runner receives as "raw").
type Variable struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Literal bool   `json:"literal,omitempty"`
	// Secret variables are not public: a runner keeps them from services.
	Secret bool `json:"secret,omitempty"`
}

// Expand returns vs with every value that is not literal expanded once, the
// way GitLab Runner expands job variables (JobVariables.Expand and Get in
// common/variables.go, applied by Build.GetAllVariables in common/build.go):
// $NAME and ${NAME} become the value of the last variable called NAME in
// the whole list, as written (one pass, not recursive, whatever the order);
// $$ becomes $; a name no variable has becomes empty, and so do the shell's
// special parameters ($1, $?, ...). The host's environment is not consulted.
func Expand(vs []Variable) []Variable {
	get := func(name string) string {
		switch name {
		case "$":
			return "$"
		case "*", "#", "@", "!", "?", "-", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9":
			return ""
		}
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].Name == name {
				return vs[i].Value
			}
		}
		return ""
	}
	out := make([]Variable, 0, len(vs))
	for _, v := range vs {
		if !v.Literal {
			v.Value = os.Expand(v.Value, get)
		}
		out = append(out, v)
	}
	return out
}

// environ turns variables into NAME=VALUE pairs, the last definition of a
// name winning, in the order names first appear.
func environ(vs []Variable) []string {
	idx := map[string]int{}
	var out []string
	for _, v := range vs {
		kv := v.Name + "=" + v.Value
		if i, ok := idx[v.Name]; ok {
			out[i] = kv
			continue
		}
		idx[v.Name] = len(out)
		out = append(out, kv)
	}
	return out
}

// envFileText renders vs for an engine's --env-file, which takes each line
// literally (no quotes, no expansion) and cannot hold a line break.
func envFileText(vs []Variable) (string, error) {
	var b strings.Builder
	for _, kv := range environ(vs) {
		if strings.ContainsAny(kv, "\n\r") {
			name, _, _ := strings.Cut(kv, "=")
			return "", fmt.Errorf("variable %s has a multi-line value, which a container engine's --env-file cannot pass; set WS_LOCAL_ENGINE=shell to run this workspace on the host", name)
		}
		b.WriteString(kv + "\n")
	}
	return b.String(), nil
}
