package cmdutil

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Output formats accepted by --output.
const (
	OutputText = "text"
	OutputJSON = "json"
)

// AddOutputFlag adds -o/--output {text|json} bound to target. Commands whose
// -o means a file name use AddFormatFlag instead.
func AddOutputFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVar(target, "output", OutputText, "output format: text or json")
}

// CheckFormat validates a text|json flag value.
func CheckFormat(cmd, flag, value string) error {
	if value != OutputText && value != OutputJSON {
		return FlagErrorf(cmd, "invalid --%s %q: want text or json", flag, value)
	}
	return nil
}

// WriteJSON writes v as indented JSON followed by a newline. Field order
// comes from struct definitions, so output is stable.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
