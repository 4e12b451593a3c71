package cmdutil

import (
	"encoding/json"
	"io"
)

// JSONFlagHelp is the help of every --json flag.
const JSONFlagHelp = "Print JSON (the fields of the API, see docs/cli.md) instead of text"

// PrintJSON prints v as indented JSON and a newline.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
