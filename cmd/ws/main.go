// Command ws turns a devfile into a developer workspace running on GitLab CI runners.
package main

import (
	"os"

	"github.com/ws-dev/ws/cmd/root"
)

func main() { os.Exit(root.Main()) }
