//go:build tools

// Package tools pins the project's chosen libraries in go.mod before every
// package that uses them exists, so parallel work never races on go.mod.
package tools

import (
	_ "github.com/coder/websocket"
	_ "github.com/creack/pty"
	_ "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"
	_ "github.com/devfile/library/v2/pkg/devfile"
	_ "github.com/hashicorp/yamux"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/spf13/cobra"
	_ "github.com/stretchr/testify/require"
	_ "gitlab.com/gitlab-org/api/client-go"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/term"
)
