// Command lite is an experiment for docs/benchmarks.md: the floor's parse and
// validation (bench/floor) rebuilt from the light packages of the devfile
// library and API only — parser/data (versions, JSON schemas, the DevfileV2
// type), validate, and api's variables — without parser and parser/context,
// which import the registry client, client-go, controller-runtime and go-git
// for features ws turns off (URLs, registries, Kubernetes, Git). lite_test.go
// checks that it accepts, rejects and decodes every corpus devfile exactly as
// the library does.
//
//	$ go build -trimpath -ldflags "-s -w" -o bin/lite ./bench/lite
//	$ bin/lite devfile.yaml
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/devfile/api/v2/pkg/validation/variables"
	"github.com/devfile/library/v2/pkg/devfile/parser/data"
	"github.com/devfile/library/v2/pkg/devfile/validate"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: lite DEVFILE")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "lite: %v\n", err)
		os.Exit(1)
	}
	if _, _, err := parse(b); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(3)
	}
}

// parse mirrors devfile.ParseDevfileAndValidate with ParserArgs{Data: b} and
// FlattenedDevfile, ConvertKubernetesContentInUri, SetBooleanDefaults false:
// YAML to JSON, schemaVersion, JSON schema check, decode, top-level
// variables, then the library's semantic validation.
func parse(b []byte) (data.DevfileData, variables.VariableWarning, error) {
	var warn variables.VariableWarning
	raw := b
	if !bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{")) {
		var err error
		if raw, err = yaml.YAMLToJSON(b); err != nil {
			return nil, warn, err
		}
	}
	var head map[string]any
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, warn, err
	}
	sv, ok := head["schemaVersion"]
	if !ok {
		return nil, warn, errors.New("schemaVersion not present in devfile")
	}
	s, _ := sv.(string)
	if s == "" {
		return nil, warn, errors.New("schemaVersion cannot be empty")
	}
	version := strings.Split(s, "-")[0]
	schema, err := data.GetDevfileJSONSchema(version)
	if err != nil {
		return nil, warn, err
	}
	res, err := gojsonschema.Validate(gojsonschema.NewStringLoader(schema), gojsonschema.NewStringLoader(string(raw)))
	if err != nil {
		return nil, warn, fmt.Errorf("validate devfile schema: %w", err)
	}
	if !res.Valid() {
		msg := "invalid devfile schema. errors :\n"
		for _, d := range res.Errors() {
			msg += fmt.Sprintf("- %s\n", d)
		}
		return nil, warn, errors.New(msg)
	}
	d, err := data.NewDevfileData(version)
	if err != nil {
		return nil, warn, err
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, warn, err
	}
	if d.GetSchemaVersion() != "2.0.0" {
		spec := d.GetDevfileWorkspaceSpec()
		if spec.Variables == nil {
			spec.Variables = map[string]string{}
		}
		warn = variables.ValidateAndReplaceGlobalVariable(spec)
	}
	if err := validate.ValidateDevfileData(d); err != nil {
		return d, warn, err
	}
	return d, warn, nil
}
