package compiler

import (
	"fmt"
	"strings"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"
)

// validEnvName reports whether name can be a variable in a POSIX shell and
// so in a CI job: GitLab accepts any key, but the runner exports each
// variable into the job's shell, and "A B", "1=2" or a name with a newline
// break that line (or inject into it).
func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkEnvNames refuses env names a job cannot carry: container env and
// exec command env.
func (c *compiler) checkEnvNames() {
	check := func(at string, env []v1.EnvVar) {
		for i, e := range env {
			if !validEnvName(e.Name) {
				c.errorf(fmt.Sprintf("%s.env[%d].name", at, i), "invalid-env-name", "use letters, digits and _, not starting with a digit",
					"environment variable name %q is not a valid variable name", e.Name)
			}
		}
	}
	for _, comp := range c.df.Spec.Components {
		if comp.Container != nil {
			check(c.compPath(comp.Name)+".container", comp.Container.Env)
		}
	}
	for _, cmd := range c.df.Spec.Commands {
		if cmd.Exec != nil {
			check(c.cmdPath(cmd.Id)+".exec", cmd.Exec.Env)
		}
	}
}

// kubeExpand expands Kubernetes-style references in a container's env
// values, command and args, as the kubelet does
// (k8s.io/kubernetes third_party/forked/golang/expansion): $(NAME) becomes
// the value of NAME when lookup knows it and stays as written otherwise,
// "$$" is one "$", and every other "$" is kept. Devfile containers are
// Kubernetes containers, so the value a devfile means is the expanded one.
func kubeExpand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// containerEnv returns a container's env with Kubernetes references
// expanded: each value may refer to the entries before it.
func containerEnv(ct *v1.ContainerComponent) []v1.EnvVar {
	if len(ct.Env) == 0 {
		return nil
	}
	seen := make(map[string]string, len(ct.Env))
	lookup := func(n string) (string, bool) { v, ok := seen[n]; return v, ok }
	out := make([]v1.EnvVar, len(ct.Env))
	for i, e := range ct.Env {
		e.Value = kubeExpand(e.Value, lookup)
		seen[e.Name] = e.Value
		out[i] = e
	}
	return out
}

// containerCommand returns a container's command and args with references
// to its env expanded (the kubelet expands them with the container's whole
// env).
func containerCommand(ct *v1.ContainerComponent) (cmd, args []string) {
	env := containerEnv(ct)
	if len(env) == 0 && len(ct.Command) == 0 && len(ct.Args) == 0 {
		return nil, nil
	}
	vals := make(map[string]string, len(env))
	for _, e := range env {
		vals[e.Name] = e.Value
	}
	lookup := func(n string) (string, bool) { v, ok := vals[n]; return v, ok }
	expand := func(in []string) []string {
		if in == nil {
			return nil
		}
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = kubeExpand(s, lookup)
		}
		return out
	}
	return expand(ct.Command), expand(ct.Args)
}
