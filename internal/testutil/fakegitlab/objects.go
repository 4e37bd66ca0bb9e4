package fakegitlab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
)

// Created is the fixed creation time of fake pipelines and jobs.
const Created = "2026-01-02T10:00:00Z"

// Project is GET /projects/:id.
func Project(id int, path, ciConfigPath string) map[string]any {
	return map[string]any{"id": id, "path_with_namespace": path, "default_branch": "main",
		"ci_config_path": ciConfigPath, "web_url": "https://gitlab.example.com/" + path}
}

// Branch is GET /projects/:id/repository/branches/:branch.
func Branch(name, sha string, parents ...string) map[string]any {
	if parents == nil {
		parents = []string{}
	}
	return map[string]any{"name": name, "protected": false, "can_push": true,
		"commit": map[string]any{"id": sha, "short_id": sha[:min(8, len(sha))], "parent_ids": parents}}
}

// Pipeline is a pipeline object.
func Pipeline(id int, status, ref, sha string) map[string]any {
	return map[string]any{"id": id, "iid": id, "project_id": 1, "status": status, "ref": ref, "sha": sha,
		"source": "api", "web_url": fmt.Sprintf("https://gitlab.example.com/g/p/-/pipelines/%d", id),
		"created_at": Created, "updated_at": Created}
}

// Job is a job object.
func Job(id, pipeline int, name, status string, tags ...string) map[string]any {
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{"id": id, "name": name, "status": status, "stage": "workspace", "tag_list": tags,
		"web_url": fmt.Sprintf("https://gitlab.example.com/g/p/-/jobs/%d", id), "created_at": Created,
		"pipeline": map[string]any{"id": pipeline, "status": status}}
}

// SHA256 is the content hash GitLab puts in X-Gitlab-Content-Sha256.
func SHA256(content string) string {
	s := sha256.Sum256([]byte(content))
	return hex.EncodeToString(s[:])
}

// FileHead is the reply to HEAD /repository/files/:path for content.
func FileHead(content, commit string) Reply {
	return Reply{Status: 200, Header: map[string]string{"X-Gitlab-Content-Sha256": SHA256(content),
		"X-Gitlab-Commit-Id": commit, "X-Gitlab-Last-Commit-Id": commit, "X-Gitlab-Ref": "x"}}
}

// NotFound is GitLab's 404 with its message, e.g. NotFound("Project").
func NotFound(what string) Reply {
	return Reply{Status: 404, Body: map[string]string{"message": "404 " + what + " Not Found"}}
}

// Q builds a query from key, value pairs.
func Q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// P builds a path under /projects/<project>, e.g. P("g/p", "/pipeline").
func P(project, rest string) string {
	return "/projects/" + project + rest
}

// Hex returns a 40-character fake commit id made from s.
func Hex(s string) string {
	h := SHA256(s)
	return strings.Repeat("", 0) + h[:40]
}
