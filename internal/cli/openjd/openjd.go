// Package openjd implements `berth openjd`: check, summarize and run Open
// Job Description templates on this host, like the reference openjd CLI
// and with the same flags, so that scripts written for it work with berth.
// It needs no berth server.
package openjd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/berth-run/berth/internal/cli/cmdutil"
	model "github.com/berth-run/berth/openjd"
)

// NewCmdOpenJD returns `berth openjd` and its subcommands.
func NewCmdOpenJD(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "openjd <command>",
		Short: "Check, summarize and run Open Job Description templates here",
		Long: `Work with Open Job Description (OpenJD) templates, specification 2023-09,
with the extensions TASK_CHUNKING, REDACTED_ENV_VARS and FEATURE_BUNDLE_1.

The commands mirror the reference openjd CLI and run on this host, without
a berth server: check validates a template, summary shows the job it makes,
run runs its tasks in a local session. See docs/openjd.md.`,
	}
	cmd.AddCommand(NewCmdCheck(f, nil), NewCmdSummary(f, nil), NewCmdRun(f, nil))
	return cmd
}

// Output formats of --output.
const (
	outputHuman = "human"
	outputJSON  = "json"
)

// outputVar defines --output.
func outputVar(fs *pflag.FlagSet, p *string) {
	*p = outputHuman
	fs.Var(&choiceValue{p: p, choices: map[string]string{"human": outputHuman, "human-readable": outputHuman, "json": outputJSON}},
		"output", "How to print the result: human or json")
}

// choiceValue is a flag that takes one of a few words (with synonyms).
type choiceValue struct {
	p       *string
	choices map[string]string
}

func (v *choiceValue) Set(s string) error {
	c, ok := v.choices[strings.ToLower(s)]
	if !ok {
		return fmt.Errorf("%q is not one of human, json", s)
	}
	*v.p = c
	return nil
}

func (v *choiceValue) String() string { return *v.p }
func (v *choiceValue) Type() string   { return "format" }

// appendValue is a repeatable string flag that several flag names can
// share (--environment and --env), keeping the command line's order.
type appendValue struct{ p *[]string }

func (v appendValue) Set(s string) error { *v.p = append(*v.p, s); return nil }
func (v appendValue) String() string     { return strings.Join(*v.p, ",") }
func (v appendValue) Type() string       { return "stringArray" }

// extensionsVar defines --extensions.
func extensionsVar(fs *pflag.FlagSet, p *[]model.Extension) {
	fs.Var(&extensionsValue{p: p}, "extensions",
		"The extensions to allow, comma-separated (default: every one berth implements: "+extensionList()+")")
}

type extensionsValue struct {
	p   *[]model.Extension
	set bool
}

func (v *extensionsValue) Set(s string) error {
	if !v.set {
		*v.p = []model.Extension{}
		v.set = true
	}
	for e := range strings.SplitSeq(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		known, ok := model.LookupExtension(e)
		if !ok {
			return fmt.Errorf("extension %q is not supported; berth implements %s", e, extensionList())
		}
		*v.p = append(*v.p, known)
	}
	return nil
}

func (v *extensionsValue) String() string { return "" }
func (v *extensionsValue) Type() string   { return "list" }

func extensionList() string {
	var names []string
	for _, e := range model.ImplementedExtensions() {
		names = append(names, string(e))
	}
	return strings.Join(names, ",")
}

// readDocument reads a JSON or YAML document into v (YAML is a superset of
// JSON, so one decoder reads both).
func readDocument(data []byte, v any) error {
	return yaml.Unmarshal(data, v)
}

// fileArg reads the file of a "file://PATH" argument; ok is false for an
// argument without the prefix.
func fileArg(arg string) (data []byte, ok bool, err error) {
	path, ok := strings.CutPrefix(strings.TrimSpace(arg), "file://")
	if !ok {
		return nil, false, nil
	}
	data, err = os.ReadFile(expandHome(path))
	return data, true, err
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// parseJobParams reads the -p values: NAME=VALUE, a JSON object, or
// file://FILE holding a JSON or YAML object. Later values win.
func parseJobParams(args []string) (map[string]string, error) {
	out := map[string]string{}
	for _, arg := range args {
		data, isFile, err := fileArg(arg)
		if err != nil {
			return nil, cmdutil.FlagErrorf("-p %s: %v", arg, err)
		}
		trimmed := strings.TrimSpace(arg)
		if isFile || strings.HasPrefix(trimmed, "{") {
			if !isFile {
				data = []byte(trimmed)
			}
			var m map[string]yaml.Node
			if err := readDocument(data, &m); err != nil {
				return nil, cmdutil.FlagErrorf("-p %s: not a JSON or YAML object of parameter values: %v", arg, err)
			}
			for k, n := range m {
				v, err := scalarText(&n)
				if err != nil {
					return nil, cmdutil.FlagErrorf("-p %s: parameter %s: %v", arg, k, err)
				}
				out[k] = v
			}
			continue
		}
		k, v, ok := strings.Cut(arg, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, cmdutil.FlagErrorf("-p %q: expected NAME=VALUE, a JSON object or file://FILE", arg)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

// scalarText returns the text of a parameter value: a scalar as written,
// a list (for LIST parameters) as JSON text, the form NAME=VALUE takes.
func scalarText(n *yaml.Node) (string, error) {
	if n.Kind == yaml.ScalarNode {
		return n.Value, nil
	}
	var b strings.Builder
	if err := writeJSONNode(&b, n, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

// writeJSONNode writes a YAML list of scalars (or of such lists) as JSON.
func writeJSONNode(b *strings.Builder, n *yaml.Node, depth int) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case depth > 2:
		return fmt.Errorf("lists nest too deeply")
	case n.Kind == yaml.SequenceNode:
		b.WriteByte('[')
		for i, k := range n.Content {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writeJSONNode(b, k, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case n.Kind != yaml.ScalarNode:
		return fmt.Errorf("the value must be a string, a number, a bool or a list")
	}
	switch n.Tag {
	case "!!int", "!!float", "!!bool", "!!null":
		if json.Valid([]byte(n.Value)) {
			b.WriteString(n.Value) // numbers as written
			return nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return err
		}
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(data)
		return nil
	}
	data, _ := json.Marshal(n.Value)
	b.Write(data)
	return nil
}

// readTemplate reads a job template file.
func readTemplate(path string) ([]byte, string, error) {
	// env:NAME: the template is in that variable (berth submit passes it
	// so to its jobs' tasks, which run where the file may not exist).
	if name, ok := strings.CutPrefix(path, "env:"); ok {
		v, ok := os.LookupEnv(name)
		if !ok {
			return nil, "", fmt.Errorf("template %s: $%s is not set", path, name)
		}
		wd, err := os.Getwd()
		return []byte(v), wd, err
	}
	data, err := os.ReadFile(expandHome(path))
	if err != nil {
		return nil, "", err
	}
	abs, err := filepath.Abs(expandHome(path))
	if err != nil {
		return nil, "", err
	}
	return data, filepath.Dir(abs), nil
}
