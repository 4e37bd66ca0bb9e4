package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/devfile/library/v2/pkg/devfile/parser/data"
	errPkg "github.com/devfile/library/v2/pkg/devfile/parser/errors"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

// parseDevfile decodes one devfile the way the devfile library's
// parser.ParseDevfile does with ParserArgs{Data: b} and FlattenedDevfile,
// ConvertKubernetesContentInUri, SetBooleanDefaults and DownloadGitResources
// all false: YAML to JSON, schemaVersion, the version's JSON schema, then a
// decode into the version's DevfileData. With those switches off that is all
// ParseDevfile does, so ws calls the steps' own packages (parser/data,
// parser/errors, gojsonschema, sigs.k8s.io/yaml) instead of the parser
// package, which links the registry client, client-go, controller-runtime's
// client and go-git for the features ws turns off (URLs, registries,
// Kubernetes, Git).
//
// Errors are the library's, with its texts and types, so translate reads
// them unchanged; TestParseMatchesLibrary holds the two to the same output
// on every corpus devfile. Parents, plugins and {{variables}} are left to
// the caller, as with the library when flattening is off.
func parseDevfile(b []byte) (data.DevfileData, error) {
	if b == nil {
		return nil, errors.New("the devfile source is not provided")
	}
	// parser/context.YAMLToJSON: a document that starts with "{" is JSON.
	raw := b
	if !bytes.HasPrefix(bytes.TrimLeftFunc(b, unicode.IsSpace), []byte("{")) {
		var err error
		if raw, err = yaml.YAMLToJSON(b); err != nil {
			return nil, &errPkg.NonCompliantDevfile{Err: err.Error()}
		}
	}

	// parser/context.SetDevfileAPIVersion. The library names the devfile's
	// path or URL in these messages; with bytes in, there is none.
	var head map[string]any
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, &errPkg.NonCompliantDevfile{Err: err.Error()}
	}
	sv, ok := head["schemaVersion"]
	if !ok {
		return nil, &errPkg.NonCompliantDevfile{Err: "schemaVersion not present in devfile: "}
	}
	// Unchecked like the library's: checkVersion has already required a
	// string, and a panic here is reported as library-failure, as before.
	s := sv.(string)
	if s == "" {
		return nil, &errPkg.NonCompliantDevfile{Err: "schemaVersion in devfile:  cannot be empty"}
	}
	version := strings.Split(s, "-")[0] // 2.2.0-latest => 2.2.0

	// parser/context.SetDevfileJSONSchema and ValidateDevfileSchema.
	schema, err := data.GetDevfileJSONSchema(version)
	if err != nil {
		return nil, &errPkg.NonCompliantDevfile{Err: err.Error()}
	}
	res, err := gojsonschema.Validate(gojsonschema.NewStringLoader(schema), gojsonschema.NewStringLoader(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("failed to validate devfile schema: %w", err)
	}
	if !res.Valid() {
		var msg strings.Builder
		msg.WriteString("invalid devfile schema. errors :\n")
		for _, d := range res.Errors() {
			fmt.Fprintf(&msg, "- %s\n", d)
		}
		return nil, &errPkg.NonCompliantDevfile{Err: msg.String()}
	}

	// parser.parseDevfile, without parents and plugins.
	d, err := data.NewDevfileData(version)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, &errPkg.NonCompliantDevfile{Err: err.Error()}
	}
	return d, nil
}
