// Package version implements `berth version`.
package version

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/internal/cli/cmdutil"
)

// NewCmdVersion returns the command.
func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print berth's version",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return cmdutil.PrintJSON(f.IO.Out, map[string]string{"version": f.Version, "go": runtime.Version()})
			}
			_, err := fmt.Fprintf(f.IO.Out, "berth %s (%s)\n", f.Version, runtime.Version())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, cmdutil.JSONFlagHelp)
	return cmd
}
