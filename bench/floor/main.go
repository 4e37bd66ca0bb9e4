// Command floor is the performance floor for `ws compile`: it reads one
// devfile and only parses and validates it with the devfile library's
// devfile.ParseDevfileAndValidate, with the ParserArgs switches that match
// what schema/ does (bytes in; no flattening, since ws resolves parents
// itself; no Kubernetes URI inlining; no boolean defaults; no Git downloads;
// so no network). ws itself no longer links the library's parser package
// (schema/parse.go redoes its steps from the light packages;
// schema.TestParseAndValidateMatchesLibrary holds the two equal), so the
// floor is the cost of the full library, not a lower bound for ws.
// bench/compile.sh times it against `ws compile` on the same files.
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
	f := false // keep in step with schema/parse.go
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
