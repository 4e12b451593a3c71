package openjd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
	model "github.com/berth-run/berth/openjd"
)

// CheckOptions are the flags of `berth openjd check`.
type CheckOptions struct {
	IO *iostreams.IOStreams

	Template   string
	Extensions []model.Extension
	Output     string
}

// NewCmdCheck returns `berth openjd check`; runF replaces its behaviour in
// tests.
func NewCmdCheck(f *cmdutil.Factory, runF func(context.Context, *CheckOptions) error) *cobra.Command {
	opts := &CheckOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "check TEMPLATE [flags]",
		Short: "Check a job or environment template",
		Long: `Check a job template or an environment template (YAML or JSON) against
the 2023-09 specification and the extensions it enables. Every problem is
reported with the path of the field, e.g.
steps[1].parameterSpace.taskParameterDefinitions[0].range.`,
		Example: `  berth openjd check job.yaml
  berth openjd check env.yaml --extensions REDACTED_ENV_VARS`,
		Args: cmdutil.ExactArgs(1, "a template file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Template = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runCheck(opts)
		},
	}
	extensionsVar(cmd.Flags(), &opts.Extensions)
	outputVar(cmd.Flags(), &opts.Output)
	return cmd
}

func runCheck(opts *CheckOptions) error {
	data, _, err := readTemplate(opts.Template)
	if err != nil {
		return err
	}
	err = model.Check(data, model.Options{Extensions: opts.Extensions})
	if opts.Output == outputJSON {
		res := map[string]any{"status": "success", "message": fmt.Sprintf("Template at '%s' passes validation checks.", opts.Template)}
		if err != nil {
			res = map[string]any{"status": "error", "message": err.Error()}
		}
		if perr := cmdutil.PrintJSON(opts.IO.Out, res); perr != nil {
			return perr
		}
		if err != nil {
			return cmdutil.Exit(cmdutil.ExitFailure)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Template, err)
	}
	_, err = fmt.Fprintf(opts.IO.Out, "Template at '%s' passes validation checks.\n", opts.Template)
	return err
}
