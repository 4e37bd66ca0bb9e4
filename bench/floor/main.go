// Command floor is the performance floor for `ws compile`: it reads one
// devfile and only parses and validates it with github.com/devfile/library/v2,
// with the same ParserArgs switches schema.LoadBytes sets (bytes in; no
// flattening, since ws resolves parents itself; no Kubernetes URI inlining;
// no boolean defaults; no Git downloads; so no network). bench/compile.sh
// times it against `ws compile` on the same files.
//
//	$ go build -trimpath -o bin/floor ./bench/floor
//	$ bin/floor devfile.yaml
//
// Exit status: 0 valid, 3 rejected by the library, 1 I/O error.
package main

import (
	"fmt"
	"os"

	"github.com/devfile/library/v2/pkg/devfile"
	"github.com/devfile/library/v2/pkg/devfile/parser"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: floor DEVFILE")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "floor: %v\n", err)
		os.Exit(1)
	}
	f := false // keep in step with schema/load.go
	_, _, err = devfile.ParseDevfileAndValidate(parser.ParserArgs{
		Data:                          data,
		FlattenedDevfile:              &f,
		ConvertKubernetesContentInUri: &f,
		SetBooleanDefaults:            &f,
		DownloadGitResources:          &f,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(3)
	}
}
