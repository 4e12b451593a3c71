//go:build man

package main

import (
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/internal/cli"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/man"
)

// Built only with -tags man (make man), so that berth itself does not link
// the man page generator.
func init() { extraCommands = append(extraCommands, newCmdMan) }

func newCmdMan(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// $SOURCE_DATE_EPOCH, as reproducible builds set it; else now.
			date := time.Now()
			if s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
				date = time.Unix(s, 0)
			}
			return man.Generate(cli.NewRootCmd(f, extraCommands...), args[0], f.Version, date.UTC())
		},
	}
}
