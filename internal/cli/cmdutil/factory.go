// Package cmdutil holds what every berth command shares: the Factory of
// dependencies, exit codes and the errors that carry them, flag value types
// that parse with package job's parsers, and JSON output.
package cmdutil

import (
	"time"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/iostreams"
)

// Factory hands commands their dependencies. Tests build one with buffers
// and a client of a fake server.
type Factory struct {
	IO *iostreams.IOStreams
	// Client returns the client of the server; called only by commands
	// that need it, so that a bad flag never touches the network.
	Client func() (*client.Client, error)
	// Now is the clock, for relative times and --since.
	Now func() time.Time
	// Version is berth's version.
	Version string
}
