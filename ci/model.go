package ci

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pipeline is a whole .gitlab-ci.yml: stages, the workflow rules and the
// jobs, in the order they are written.
type Pipeline struct {
	// Source is the devfile path named in the generated header.
	Source   string
	Stages   []string
	Workflow *Workflow
	Jobs     []Job
}

// Workflow is the top-level workflow keyword.
type Workflow struct {
	Rules []Rule `yaml:"rules"`
}

// Rule is one entry of rules or workflow:rules.
type Rule struct {
	If   string `yaml:"if,omitempty"`
	When string `yaml:"when,omitempty"`
}

// Job is one CI job. Field order is the order of the keys in the output.
type Job struct {
	// Name is the job's key; it is not written inside the job.
	Name          string       `yaml:"-"`
	Stage         string       `yaml:"stage,omitempty"`
	Image         *Image       `yaml:"image,omitempty"`
	Services      []Service    `yaml:"services,omitempty"`
	Tags          []string     `yaml:"tags,omitempty"`
	Timeout       string       `yaml:"timeout,omitempty"`
	Interruptible *bool        `yaml:"interruptible,omitempty"`
	ResourceGroup string       `yaml:"resource_group,omitempty"`
	Environment   *Environment `yaml:"environment,omitempty"`
	Needs         *[]Need      `yaml:"needs,omitempty"`
	When          string       `yaml:"when,omitempty"`
	AllowFailure  *bool        `yaml:"allow_failure,omitempty"`
	Variables     Variables    `yaml:"variables,omitempty"`
	Cache         []Cache      `yaml:"cache,omitempty"`
	BeforeScript  []string     `yaml:"before_script,omitempty"`
	Script        []string     `yaml:"script"`
	AfterScript   []string     `yaml:"after_script,omitempty"`
	Artifacts     *Artifacts   `yaml:"artifacts,omitempty"`
}

// Image is the job's image in its long form.
type Image struct {
	Name       string   `yaml:"name"`
	Entrypoint []string `yaml:"entrypoint,flow"`
}

// Service is one entry of services.
//
// GitLab accepts only plain string values under services[].variables: its
// Entry::Service declares its variables entry without the allowed_value_data
// metadata that lets a job's variables take {value, expand}
// (gitlab-org/gitlab lib/gitlab/ci/config/entry/service.rb, variable.rb:
// ComplexVariable "must be a string"). GitLab passes them to the runner
// without a raw flag (lib/gitlab/ci/build/image.rb, build_variables), and the
// runner expands them together with the job's variables
// (gitlab-runner executors/docker/docker.go getServiceVariables,
// common/variables.go Expand), where "$$" stands for one "$". So a Literal
// service variable is written as a plain string with every "$" doubled, and
// reaches the service as Value exactly; see docs/devfile-support.md.
type Service struct {
	Name       string    `yaml:"name"`
	Alias      string    `yaml:"alias,omitempty"`
	Entrypoint []string  `yaml:"entrypoint,omitempty,flow"`
	Command    []string  `yaml:"command,omitempty"`
	Variables  Variables `yaml:"variables,omitempty"`
}

// MarshalYAML writes the service with its variables as plain strings.
func (s Service) MarshalYAML() (any, error) {
	type plain Service // no MarshalYAML: the default struct encoding
	var n yaml.Node
	if err := n.Encode(plain(s)); err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "variables" {
			n.Content[i+1] = s.Variables.plainNode()
		}
	}
	return &n, nil
}

// Environment is the job's environment keyword.
type Environment struct {
	Name       string `yaml:"name"`
	URL        string `yaml:"url,omitempty"`
	Action     string `yaml:"action,omitempty"`
	OnStop     string `yaml:"on_stop,omitempty"`
	AutoStopIn string `yaml:"auto_stop_in,omitempty"`
}

// Need is one entry of needs.
type Need struct {
	Job       string `yaml:"job"`
	Artifacts bool   `yaml:"artifacts"`
}

// Cache is one entry of cache.
type Cache struct {
	Key    string   `yaml:"key"`
	Paths  []string `yaml:"paths"`
	When   string   `yaml:"when,omitempty"`
	Policy string   `yaml:"policy,omitempty"`
}

// Artifacts is the artifacts keyword.
type Artifacts struct {
	Paths []string `yaml:"paths,omitempty"`
	// Untracked adds the files git does not track (new and ignored ones).
	Untracked bool   `yaml:"untracked,omitempty"`
	ExpireIn  string `yaml:"expire_in,omitempty"`
	When      string `yaml:"when,omitempty"`
}

// Variable is one job, service or global variable. Literal variables (user
// values) reach the job or service exactly as Value: a job's are written as
// {value, expand: false}, a service's as a plain string with "$" doubled
// (see [Service]).
type Variable struct {
	Name  string
	Value string
	// Literal disables GitLab's variable expansion for this value.
	Literal bool
}

// Variables keeps variables in the order they were added.
type Variables []Variable

// Set replaces the value of name, or appends it.
func (vs *Variables) Set(v Variable) {
	for i := range *vs {
		if (*vs)[i].Name == v.Name {
			(*vs)[i] = v
			return
		}
	}
	*vs = append(*vs, v)
}

// Merge sets every variable of add in order, as repeated [Variables.Set]
// calls would, in time linear in the two lengths.
func (vs *Variables) Merge(add Variables) {
	at := make(map[string]int, len(*vs)+len(add))
	for i, v := range *vs {
		if _, dup := at[v.Name]; !dup {
			at[v.Name] = i
		}
	}
	for _, v := range add {
		if i, ok := at[v.Name]; ok {
			(*vs)[i] = v
			continue
		}
		at[v.Name] = len(*vs)
		*vs = append(*vs, v)
	}
}

// Get returns the variable called name.
func (vs Variables) Get(name string) (Variable, bool) {
	for _, v := range vs {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

// MarshalYAML writes the variables as an ordered mapping.
func (vs Variables) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, v := range vs {
		key := str(v.Name)
		if v.Literal {
			val := &yaml.Node{Kind: yaml.MappingNode}
			val.Content = append(val.Content, str("value"), str(v.Value), str("expand"),
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"})
			n.Content = append(n.Content, key, val)
			continue
		}
		n.Content = append(n.Content, key, str(v.Value))
	}
	return n, nil
}

// EscapeDollars doubles every "$", so that GitLab Runner's expansion of a
// service variable gives back s.
func EscapeDollars(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// plainNode writes the variables as a mapping of plain strings, Literal
// values escaped with [EscapeDollars] (the form services[].variables takes).
func (vs Variables) plainNode() *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, v := range vs {
		val := v.Value
		if v.Literal {
			val = EscapeDollars(val)
		}
		n.Content = append(n.Content, str(v.Name), str(val))
	}
	return n
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}
