package fakegitlab

import (
	"strings"
)

// Doctor is the GitLab side of a 'ws doctor' run: each field shapes one
// answer, and Install registers exactly the requests doctor should make,
// each expected once.
type Doctor struct {
	// Project is the project path; default g/p.
	Project string
	// Version is GET /version's version; "" answers 404 (not GitLab).
	Version string
	// UserStatus answers GET /user; 0 means 200 as ada (id 1).
	UserStatus int
	// Admin marks the user as an administrator.
	Admin bool
	// Scopes are the token's scopes; nil answers /personal_access_tokens/self
	// with 404 (not a personal access token).
	Scopes    []string
	ExpiresAt string
	// ProjectStatus 404 makes the project missing.
	ProjectStatus int
	// Access is the user's project_access level (30 Developer); 0 leaves
	// permissions empty, and MemberAccess answers members/all/1 (0: 404).
	Access, MemberAccess int
	// VariablesRole is ci_pipeline_variables_minimum_override_role; "" omits it.
	VariablesRole string
	// Protected are the protected-branch objects (see ProtectedBranch);
	// ProtectedStatus 403 refuses the list.
	Protected       []any
	ProtectedStatus int
	// Tags are the tags doctor asks runners for; nil: it asks for none.
	Tags []string
	// Runners are the descriptions of the online runners with Tags;
	// RunnersStatus 403 refuses the list.
	Runners       []string
	RunnersStatus int
	// FeatureFlags are the project's FF_* CI/CD variables; a Maintainer's
	// (or an administrator's) doctor lists them. VariablesStatus 403
	// refuses the list.
	FeatureFlags    map[string]string
	VariablesStatus int
	// Stop is the last request doctor is expected to make: "version",
	// "user", "project", "protected" or "" (all).
	Stop string
}

// ProtectedBranch is a protected-branch object: pattern, the access levels
// allowed to push (0 "No one", 30 Developer, 40 Maintainer), and force push.
func ProtectedBranch(pattern string, force bool, push ...int) map[string]any {
	levels := []any{}
	for _, l := range push {
		levels = append(levels, map[string]any{"access_level": l, "access_level_description": "x"})
	}
	return map[string]any{"id": 1, "name": pattern, "push_access_levels": levels, "allow_force_push": force}
}

// Install registers d's stubs on s.
func (d *Doctor) Install(s *Server) {
	if d.Project == "" {
		d.Project = "g/p"
	}
	pp := "/projects/" + d.Project
	if d.Version == "" {
		s.Stub(&Stub{Method: "GET", Path: "/version", Replies: []Reply{NotFound("")}})
	} else {
		s.Stub(&Stub{Method: "GET", Path: "/version", AnyToken: true, Fn: func(r *Request) Reply {
			if r.Header.Get("Private-Token") != Token {
				return Reply{Status: 401, Body: map[string]string{"message": "401 Unauthorized"}}
			}
			return Reply{Body: map[string]string{"version": d.Version, "revision": "abc"}}
		}})
	}
	if d.Stop == "version" {
		return
	}
	if d.UserStatus != 0 {
		// AnyToken: these stubs see the rejected token and count the calls.
		s.Stub(&Stub{Method: "GET", Path: "/user", AnyToken: true, Replies: []Reply{{Status: d.UserStatus, Body: map[string]string{"message": "401 Unauthorized"}}}},
			&Stub{Method: "GET", Path: "/personal_access_tokens/self", AnyToken: true, Replies: []Reply{{Status: d.UserStatus, Body: map[string]string{"message": "401 Unauthorized"}}}})
		return
	}
	s.Stub(&Stub{Method: "GET", Path: "/user", Replies: []Reply{{Body: map[string]any{"id": 1, "username": "ada", "name": "Ada", "is_admin": d.Admin}}}})
	if d.Scopes == nil {
		s.Stub(&Stub{Method: "GET", Path: "/personal_access_tokens/self", Replies: []Reply{NotFound("")}})
	} else {
		pat := map[string]any{"id": 9, "name": "laptop", "scopes": d.Scopes, "expires_at": nil, "active": true}
		if d.ExpiresAt != "" {
			pat["expires_at"] = d.ExpiresAt
		}
		s.Stub(&Stub{Method: "GET", Path: "/personal_access_tokens/self", Replies: []Reply{{Body: pat}}})
	}
	if d.Stop == "user" {
		return
	}
	if d.ProjectStatus == 404 {
		s.Stub(&Stub{Method: "GET", Path: pp, Replies: []Reply{NotFound("Project")}})
		return
	}
	proj := Project(1, d.Project, "")
	perms := map[string]any{"project_access": nil, "group_access": nil}
	if d.Access > 0 {
		perms["project_access"] = map[string]any{"access_level": d.Access, "notification_level": 3}
	}
	proj["permissions"] = perms
	if d.VariablesRole != "" {
		proj["ci_pipeline_variables_minimum_override_role"] = d.VariablesRole
	}
	s.Stub(&Stub{Method: "GET", Path: pp, Replies: []Reply{{Body: proj}}})
	if d.Access == 0 {
		if d.MemberAccess == 0 {
			s.Stub(&Stub{Method: "GET", Path: pp + "/members/all/1", Replies: []Reply{NotFound("")}})
		} else {
			s.Stub(&Stub{Method: "GET", Path: pp + "/members/all/1", Replies: []Reply{{Body: map[string]any{
				"id": 1, "username": "ada", "access_level": d.MemberAccess}}}})
		}
	}
	if d.Stop == "project" {
		return
	}
	if d.Access >= 40 || d.MemberAccess >= 40 || d.Admin {
		var reply Reply
		if d.VariablesStatus != 0 {
			reply = Reply{Status: d.VariablesStatus, Body: map[string]string{"message": "403 Forbidden"}}
		} else {
			vars := []any{map[string]any{"key": "DEPLOY_TOKEN", "value": "secret-value", "masked": true}}
			for k, v := range d.FeatureFlags {
				vars = append(vars, map[string]any{"key": k, "value": v})
			}
			reply = Reply{Body: vars}
		}
		s.Stub(&Stub{Method: "GET", Path: pp + "/variables", Query: Q("page", "1", "per_page", "100"), Replies: []Reply{reply}})
	}
	if d.ProtectedStatus != 0 {
		s.Stub(&Stub{Method: "GET", Path: pp + "/protected_branches", Query: Q("page", "1", "per_page", "100"),
			Replies: []Reply{{Status: d.ProtectedStatus, Body: map[string]string{"message": "403 Forbidden"}}}})
	} else {
		s.Stub(&Stub{Method: "GET", Path: pp + "/protected_branches", Query: Q("page", "1", "per_page", "100"),
			Replies: []Reply{{Body: append([]any{}, d.Protected...)}}})
	}
	if d.Stop == "protected" || d.Tags == nil {
		return
	}
	q := Q("status", "online", "paused", "false", "tag_list", strings.Join(d.Tags, ","), "per_page", "100")
	if d.RunnersStatus != 0 {
		s.Stub(&Stub{Method: "GET", Path: pp + "/runners", Query: q,
			Replies: []Reply{{Status: d.RunnersStatus, Body: map[string]string{"message": "403 Forbidden"}}}})
		return
	}
	out := []any{}
	for i, desc := range d.Runners {
		out = append(out, map[string]any{"id": i + 1, "description": desc, "runner_type": "project_type",
			"online": true, "status": "online", "paused": false})
	}
	s.Stub(&Stub{Method: "GET", Path: pp + "/runners", Query: q, Replies: []Reply{{Body: out}}})
}
