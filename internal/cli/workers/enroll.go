package workers

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/internal/cli/cmdutil"
)

// newCmdAdd is `berth workers add ID`: enrol a worker identity.
func newCmdAdd(f *cmdutil.Factory) *cobra.Command {
	var pool, output string
	cmd := &cobra.Command{
		Use:   "add ID [--pool P] [-o FILE]",
		Short: "Enrol a worker: make its identity and write its NKey seed",
		Long: `Enrol worker ID of pool P on the server's embedded NATS. The worker may then
act as ID, in pool P, and as nothing else: it can take its pool's work and
report on the tasks it holds, but not publish work, use the JetStream API
beyond its pool's consumer, read another worker's traffic or report on a
task another worker holds. The NKey seed is written to FILE (default ID.nk,
mode 0600) and shown nowhere else: the server keeps only the public key.
Enrolling an ID again replaces its key. Start the worker with:

  berth worker --nats nats://SERVER:PORT --id ID --nats-nkey ID.nk --pool P`,
		Args: cmdutil.ExactArgs(1, "berth workers add needs the worker's ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			cred, err := c.EnrollWorker(cmd.Context(), args[0], pool)
			if err != nil {
				return err
			}
			if output == "" {
				output = cred.ID + ".nk"
			}
			if err := os.WriteFile(output, []byte(cred.Seed+"\n"), 0o600); err != nil {
				return fmt.Errorf("writing the seed: %w", err)
			}
			fmt.Fprintf(f.IO.Out, "%s\n", output)
			fmt.Fprintf(f.IO.ErrOut, "Enrolled worker %s (pool %s). Start it with:\n  berth worker --nats nats://SERVER:PORT --id %s --nats-nkey %s --pool %s\n",
				cred.ID, cred.Pool, cred.ID, output, cred.Pool)
			return nil
		},
	}
	cmd.Flags().StringVar(&pool, "pool", "", "the pool the worker takes work from (default \"default\")")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the NKey seed to `FILE` (default ID.nk)")
	return cmd
}

// newCmdRm is `berth workers rm ID`: revoke a worker identity.
func newCmdRm(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "rm ID",
		Short: "Revoke a worker's identity; it is disconnected at once",
		Args:  cmdutil.ExactArgs(1, "berth workers rm needs the worker's ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			return c.RevokeWorker(cmd.Context(), args[0])
		},
	}
}
