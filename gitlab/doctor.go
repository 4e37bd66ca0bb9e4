package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// The calls 'ws doctor' makes beyond those of the workspace commands. Each
// goes through call, so it is retried and its failure carries a hint.

// Access levels of GitLab roles (doc/api/members.md).
const (
	AccessNone       = 0
	AccessGuest      = 10
	AccessReporter   = 20
	AccessDeveloper  = 30
	AccessMaintainer = 40
	AccessOwner      = 50
	AccessAdmin      = 60 // only in protected-branch rules: "administrators"
)

// RoleName names an access level: "Developer", "Maintainer", ...
func RoleName(level int) string {
	switch {
	case level >= AccessAdmin:
		return "Administrator"
	case level >= AccessOwner:
		return "Owner"
	case level >= AccessMaintainer:
		return "Maintainer"
	case level >= AccessDeveloper:
		return "Developer"
	case level >= AccessReporter:
		return "Reporter"
	case level >= AccessGuest:
		return "Guest"
	case level > 0:
		return "Minimal Access"
	default:
		return "no role"
	}
}

// Version returns the instance's version, e.g. "18.2.1-ee" (GET /version).
func (c *Client) Version(ctx context.Context) (string, error) {
	v, _, err := call(ctx, c, "read GitLab version", func(o ...gl.RequestOptionFunc) (*gl.Version, *gl.Response, error) {
		return c.api.Version.GetVersion(o...)
	})
	if err != nil {
		return "", err
	}
	return v.Version, nil
}

// ProjectAccess is what a user may do in a project, and the project's
// pipeline variables setting.
type ProjectAccess struct {
	ID   int64
	Path string // group/name
	// Level is the user's access level (30 Developer, 40 Maintainer, 50
	// Owner), direct or inherited; 0 when the user is no member.
	Level int
	// VariablesMinimumRole is ci_pipeline_variables_minimum_override_role
	// (no_one_allowed, developer, maintainer, owner); "" when GitLab did
	// not show it (it shows project settings to Maintainers only).
	VariablesMinimumRole string
	// RestrictVariables is the older restrict_user_defined_variables.
	RestrictVariables bool
}

// ProjectAccess reads project and the access level userID has in it: GET
// /projects/:id, whose permissions give the direct and the group role; only
// when both are empty (inherited from a parent group, or shared) GET
// /projects/:id/members/all/:user_id as well.
func (c *Client) ProjectAccess(ctx context.Context, project string, userID int64) (*ProjectAccess, error) {
	p, _, err := call(ctx, c, "get project "+project, func(o ...gl.RequestOptionFunc) (*gl.Project, *gl.Response, error) {
		return c.api.Projects.GetProject(project, &gl.GetProjectOptions{}, o...)
	})
	if err != nil {
		return nil, err
	}
	out := &ProjectAccess{ID: p.ID, Path: p.PathWithNamespace,
		VariablesMinimumRole: p.CIPipelineVariablesMinimumOverrideRole, RestrictVariables: p.RestrictUserDefinedVariables}
	if pm := p.Permissions; pm != nil {
		if pm.ProjectAccess != nil {
			out.Level = max(out.Level, int(pm.ProjectAccess.AccessLevel))
		}
		if pm.GroupAccess != nil {
			out.Level = max(out.Level, int(pm.GroupAccess.AccessLevel))
		}
	}
	if out.Level > 0 || userID == 0 {
		return out, nil
	}
	m, _, err := call(ctx, c, "read your membership of "+project, func(o ...gl.RequestOptionFunc) (*gl.ProjectMember, *gl.Response, error) {
		return c.api.ProjectMembers.GetInheritedProjectMember(project, userID, o...)
	})
	switch {
	case IsKind(err, KindNotFound):
		return out, nil
	case err != nil:
		return nil, err
	}
	out.Level = int(m.AccessLevel)
	return out, nil
}

// BranchRule is one protected-branch rule: a branch name or a wildcard
// pattern ("ws/*", "*") and who may push to matching branches.
type BranchRule struct {
	Pattern        string
	PushLevels     []int   // roles allowed to push; 0 means "No one"
	PushUsers      []int64 // users allowed by name
	PushGroups     []int64 // groups allowed (GitLab Premium)
	AllowForcePush bool
}

// ProtectedBranches lists the project's protected-branch rules (GET
// /projects/:id/protected_branches, every page).
func (c *Client) ProtectedBranches(ctx context.Context, project string) ([]BranchRule, error) {
	var out []BranchRule
	for page := int64(1); ; page++ {
		bs, resp, err := call(ctx, c, "list protected branches of "+project, func(o ...gl.RequestOptionFunc) ([]*gl.ProtectedBranch, *gl.Response, error) {
			return c.api.ProtectedBranches.ListProtectedBranches(project, &gl.ListProtectedBranchesOptions{
				ListOptions: gl.ListOptions{PerPage: 100, Page: page},
			}, o...)
		})
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			r := BranchRule{Pattern: b.Name, AllowForcePush: b.AllowForcePush}
			for _, a := range b.PushAccessLevels {
				switch {
				case a.UserID != 0:
					r.PushUsers = append(r.PushUsers, a.UserID)
				case a.GroupID != 0:
					r.PushGroups = append(r.PushGroups, a.GroupID)
				case a.DeployKeyID != 0:
					// deploy keys push over SSH; not ws's token
				default:
					r.PushLevels = append(r.PushLevels, int(a.AccessLevel))
				}
			}
			out = append(out, r)
		}
		if resp == nil || resp.NextPage == 0 {
			return out, nil
		}
	}
}

// Matches reports whether the rule protects branch. GitLab's wildcard "*"
// matches any characters, "/" included (lib/gitlab/ref_matcher.rb).
func (r BranchRule) Matches(branch string) bool {
	if !strings.Contains(r.Pattern, "*") {
		return r.Pattern == branch
	}
	parts := strings.Split(r.Pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	re, err := regexp.Compile(`\A` + strings.Join(parts, ".*?") + `\z`)
	return err == nil && re.MatchString(branch)
}

// MayMatchWorkspaces reports whether the rule protects some ws/* branch,
// for when no workspace name is known: "*", "ws/*", "w*" do; "ws/demo"
// protects one workspace only and "main" none.
func (r BranchRule) MayMatchWorkspaces() bool {
	lit, _, wild := strings.Cut(r.Pattern, "*")
	if !wild {
		return strings.HasPrefix(r.Pattern, BranchPrefix)
	}
	return strings.HasPrefix(BranchPrefix, lit) || strings.HasPrefix(lit, BranchPrefix)
}

// AllowsPush reports whether a user with access level (AccessAdmin for an
// administrator) and id may push to branches the rule protects; unknown
// is true when only a group rule could allow it, which ws cannot resolve.
func (r BranchRule) AllowsPush(level int, userID int64) (ok, unknown bool) {
	for _, l := range r.PushLevels {
		if l > 0 && level >= l {
			return true, false
		}
	}
	for _, u := range r.PushUsers {
		if u == userID && userID != 0 {
			return true, false
		}
	}
	return false, len(r.PushGroups) > 0
}

// PushRoles describes who may push under the rule: "Maintainer", "No one".
func (r BranchRule) PushRoles() string {
	var names []string
	for _, l := range r.PushLevels {
		if l == 0 {
			names = append(names, "No one")
		} else {
			names = append(names, RoleName(l)+"s")
		}
	}
	if n := len(r.PushUsers); n > 0 {
		names = append(names, fmt.Sprintf("%d named user(s)", n))
	}
	if n := len(r.PushGroups); n > 0 {
		names = append(names, fmt.Sprintf("%d group(s)", n))
	}
	if len(names) == 0 {
		return "No one"
	}
	return strings.Join(names, ", ")
}

// FeatureFlagVariables returns the project's CI/CD variables whose names
// start with FF_ (runner feature flags set for every job of the project),
// name → value, from GET /projects/:id/variables (every page). Other
// variables are neither kept nor shown. checked is false when GitLab
// refused the list (listing CI/CD variables needs Maintainer).
func (c *Client) FeatureFlagVariables(ctx context.Context, project string) (flags map[string]string, checked bool, err error) {
	flags = map[string]string{}
	for page := int64(1); ; page++ {
		vs, resp, err := call(ctx, c, "list CI/CD variables of "+project, func(o ...gl.RequestOptionFunc) ([]*gl.ProjectVariable, *gl.Response, error) {
			return c.api.ProjectVariables.ListVariables(project, &gl.ListProjectVariablesOptions{
				ListOptions: gl.ListOptions{PerPage: 100, Page: page},
			}, o...)
		})
		var ge *Error
		if errors.As(err, &ge) && (ge.Status == http.StatusForbidden || ge.Status == http.StatusUnauthorized) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		for _, v := range vs {
			if strings.HasPrefix(v.Key, "FF_") {
				flags[v.Key] = v.Value
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return flags, true, nil
		}
	}
}
