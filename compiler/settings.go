package compiler

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/devfile/api/v2/pkg/attributes"

	"github.com/ws-dev/ws/diag"
	"github.com/ws-dev/ws/schema"
)

// Attribute names of the ws namespace, read from the devfile's top-level
// attributes. Flags win over them.
const (
	AttrTags         = "ws/tags"
	AttrTimeout      = "ws/timeout"
	AttrIdleTimeout  = "ws/idle-timeout"
	AttrGateway      = "ws/gateway"
	AttrAgentSource  = "ws/agent-source"
	AttrAgentImage   = "ws/agent-image"
	AttrBuilderImage = "ws/builder-image"
	AttrName         = "ws/name"
	AttrDotfiles     = "ws/dotfiles"
	// AttrDefaultImage is the image of the workspace when the devfile has
	// no container component.
	AttrDefaultImage = "ws/default-image"
	// AttrBackground on a command marks it as started and not waited for.
	AttrBackground = "ws/background"
	// AttrMain on a container component selects the main container (like gl/inject-editor).
	AttrMain = "ws/main"
	// AttrInjectEditor is GitLab Workspaces' main-container marker.
	AttrInjectEditor = "gl/inject-editor"
)

var knownAttrs = []string{AttrTags, AttrTimeout, AttrIdleTimeout, AttrGateway, AttrAgentSource, AttrAgentImage, AttrBuilderImage, AttrName, AttrDefaultImage, AttrDotfiles}

// settings are the resolved values of one compilation.
type settings struct {
	name         string
	tags         []string
	timeoutMin   int // minutes
	idleMin      int // minutes; 0 disables
	gateway      string
	agentSource  string
	agentImage   string
	builderImage string
	dotfiles     string
	defaultImage string
}

// maxTimeoutMin is GitLab's longest job timeout, Project::MAX_BUILD_TIMEOUT
// (1.month = 2,629,746 s, checked by lib/gitlab/ci/config/entry/timeout.rb),
// in whole minutes.
const maxTimeoutMin = 2629746 / 60

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (c *compiler) settings() settings {
	attrs := c.df.Spec.Attributes
	var s settings
	for _, k := range sortedAttrKeys(attrs) {
		if strings.HasPrefix(k, "ws/") && !slices.Contains(knownAttrs, k) {
			c.warn(schema.Key("attributes", k), "unknown-attribute", "remove it, or use one of "+strings.Join(knownAttrs, ", "),
				"unknown ws attribute %q is ignored", k)
		}
	}
	str := func(flag, attr, def string) (string, string) {
		if flag != "" {
			return flag, ""
		}
		if attrs.Exists(attr) {
			var err error
			v := attrs.GetString(attr, &err)
			if err != nil {
				c.errorf(schema.Key("attributes", attr), "attribute-type", "write it as a string", "%s must be a string", attr)
				return def, ""
			}
			return v, schema.Key("attributes", attr)
		}
		return def, ""
	}

	// Name.
	name, namePath := str(c.opts.Name, AttrName, "")
	if name == "" {
		name, namePath = sanitizeName(c.df.Metadata.Name), "metadata.name"
	}
	if name == "" {
		name = sanitizeName(c.opts.DefaultName)
	}
	switch {
	case name == "":
		c.errorf("metadata.name", "name-required", "set metadata.name in the devfile or pass --name", "the workspace needs a name and none could be derived")
	case !nameRE.MatchString(name):
		c.errorf(namePath, "invalid-name", "use lowercase letters, digits and '-', at most 63 characters",
			"workspace name %q is not valid", name)
	}
	s.name = name

	// Tags.
	switch {
	case len(c.opts.Tags) > 0:
		s.tags = c.opts.Tags
	case attrs.Exists(AttrTags):
		var list []string
		if err := attrs.GetInto(AttrTags, &list); err != nil {
			var err2 error
			one := attrs.GetString(AttrTags, &err2)
			if err2 != nil {
				c.errorf(schema.Key("attributes", AttrTags), "attribute-type", "write a list of strings: ws/tags: [docker, ws]", "%s must be a list of runner tags", AttrTags)
			} else {
				list = strings.Split(one, ",")
			}
		}
		for _, t := range list {
			if t = strings.TrimSpace(t); t != "" {
				s.tags = append(s.tags, t)
			}
		}
	}
	if len(s.tags) == 0 {
		c.warn("attributes", "no-tags", "set ws/tags in the devfile attributes or pass --tag, naming a runner with a Docker or Kubernetes executor",
			"no runner tags: the job runs only on runners that pick untagged jobs")
	}

	// Timeouts.
	t, tPath := str(c.opts.Timeout, AttrTimeout, DefaultTimeout)
	if m, err := parseMinutes(t); err != nil || m < 10 || m > maxTimeoutMin {
		switch {
		case err != nil:
		case m < 10:
			err = fmt.Errorf("below GitLab's minimum of 10 minutes")
		default:
			err = fmt.Errorf("over GitLab's maximum of one month")
		}
		c.errorf(tPath, "invalid-timeout", `write a duration such as "4h" or "90m" (at least 10m, at most 30 days)`, "timeout %q: %v", t, err)
		s.timeoutMin = 120
	} else {
		s.timeoutMin = m
	}
	it, itPath := str(c.opts.IdleTimeout, AttrIdleTimeout, DefaultIdleTimeout)
	if m, err := parseMinutes(it); err != nil {
		c.errorf(itPath, "invalid-timeout", `write a duration such as "30m", or "0" to disable`, "idle timeout %q: %v", it, err)
	} else {
		s.idleMin = m
		if m > s.timeoutMin {
			c.warn(itPath, "idle-exceeds-timeout", "lower the idle timeout or raise the job timeout",
				"idle timeout %s is longer than the job timeout %s, so it never fires", goDuration(m), goDuration(s.timeoutMin))
		}
	}

	// Gateway.
	g, gPath := str(c.opts.Gateway, AttrGateway, "")
	if g != "" && !strings.HasPrefix(g, "https://") && !strings.HasPrefix(g, "http://") {
		c.errorf(gPath, "invalid-gateway", "write the gateway's base URL, e.g. https://ws.example.com", "gateway %q is not an http(s) URL", g)
	}
	s.gateway = strings.TrimSuffix(g, "/")

	// Agent delivery.
	src, srcPath := str(c.opts.AgentSource, AttrAgentSource, AgentArtifact)
	if src != AgentArtifact && src != AgentService && src != AgentLocal {
		c.errorf(srcPath, "invalid-agent-source", "use artifact, service or local", "unknown agent source %q", src)
		src = AgentArtifact
	}
	s.agentSource = src
	s.agentImage, _ = str(c.opts.AgentImage, AttrAgentImage, AgentImageFor(c.opts.Version))
	s.builderImage, _ = str(c.opts.BuilderImage, AttrBuilderImage, DefaultBuilderImage)
	s.dotfiles = c.dotfiles(str(c.opts.Dotfiles, AttrDotfiles, c.opts.DefaultDotfiles))
	s.defaultImage, _ = str(c.opts.DefaultImage, AttrDefaultImage, DefaultDevImage)
	return s
}

// dotfiles checks a dotfiles repository URL: a git URL without a password
// (the plan is written into the job's YAML, where secrets never go).
func (c *compiler) dotfiles(repo, path string) string {
	repo = strings.TrimSpace(repo)
	if repo == "" {
		return ""
	}
	if at := strings.Index(repo, "@"); at > 0 {
		if scheme := strings.Index(repo, "://"); scheme > 0 && scheme < at && strings.Contains(repo[scheme+3:at], ":") {
			c.errorf(path, "dotfiles-secret", "use a repository the job can clone without a password (public, or reached with the job's own credentials)",
				"dotfiles repository URL must not contain a password: the plan is written into the job's YAML")
			return ""
		}
	}
	switch {
	case strings.HasPrefix(repo, "https://"), strings.HasPrefix(repo, "http://"), strings.HasPrefix(repo, "ssh://"),
		strings.HasPrefix(repo, "git://"), strings.HasPrefix(repo, "file://"), strings.HasPrefix(repo, "/"):
	case strings.Contains(repo, ":") && !strings.Contains(repo[:strings.Index(repo, ":")], "/"): // git@host:path
	default:
		c.errorf(path, "invalid-dotfiles", "write a git URL, e.g. https://gitlab.com/you/dotfiles.git", "dotfiles repository %q is not a git URL", repo)
		return ""
	}
	return repo
}

// WorkspaceName turns a name (metadata.name, a directory's name) into a
// workspace name as the compiler does: lowercase letters, digits and single
// dashes, at most 63 characters; "" when nothing is left.
func WorkspaceName(n string) string { return sanitizeName(n) }

// sanitizeName turns metadata.name into a workspace name when it can.
func sanitizeName(n string) string {
	n = strings.ToLower(strings.TrimSpace(n))
	var b strings.Builder
	for _, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	for strings.Contains(out, "--") {
		out = strings.ReplaceAll(out, "--", "-")
	}
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	return out
}

var durPartRE = regexp.MustCompile(`^(\d+)\s*(hours?|hrs|hr|h|minutes?|mins|min|m|seconds?|secs|sec|s|days?|d)`)

// parseMinutes parses "4h", "90m", "2h30m", "1h 30m", "3600s", "1 day" or
// "0" into whole minutes (seconds round up). The compiler may not import
// time, and GitLab's and Go's duration syntaxes differ, so ws accepts their
// common subset and writes each side's own form.
func parseMinutes(s string) (int, error) {
	in := strings.TrimSpace(s)
	if in == "0" {
		return 0, nil
	}
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	secs := 0
	rest := in
	for rest != "" {
		m := durPartRE.FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Errorf("not a duration (want e.g. 4h, 90m, 2h30m)")
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 1_000_000 {
			return 0, fmt.Errorf("number out of range")
		}
		switch m[2][0] {
		case 'd':
			secs += n * 86400
		case 'h':
			secs += n * 3600
		case 'm':
			secs += n * 60
		case 's':
			secs += n
		}
		rest = strings.TrimLeft(rest[len(m[0]):], " ,")
		if secs > 365*86400 {
			return 0, fmt.Errorf("longer than a year")
		}
	}
	return (secs + 59) / 60, nil
}

// gitlabDuration writes minutes the way GitLab's timeout keyword reads them.
func gitlabDuration(min int) string {
	h, m := min/60, min%60
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	default:
		return fmt.Sprintf("%dh %dm", h, m)
	}
}

// goDuration writes minutes as a Go duration string ("1h30m", "0").
func goDuration(min int) string {
	h, m := min/60, min%60
	switch {
	case min == 0:
		return "0"
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	default:
		return fmt.Sprintf("%dh%dm", h, m)
	}
}

func sortedAttrKeys(a attributes.Attributes) []string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// boolAttr reads a boolean attribute; it accepts true/false and "true"/"false".
func boolAttr(a attributes.Attributes, key string) (val, ok bool) {
	if !a.Exists(key) {
		return false, false
	}
	var err error
	v := a.GetBoolean(key, &err)
	if err == nil {
		return v, true
	}
	err = nil
	sv := a.GetString(key, &err)
	if err == nil && (sv == "true" || sv == "false") {
		return sv == "true", true
	}
	return false, false
}

var _ = diag.Error
