package cmdutil

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/job"
)

// Exit codes of berth. A foreground `berth run` exits with the job's own
// exit code instead (128+N for signal N).
const (
	ExitOK          = 0   // success; every awaited job Done
	ExitFailure     = 1   // an error, or a job that ended Failed
	ExitUsage       = 2   // bad flag, argument or value; no such job
	ExitNoServer    = 3   // no server answers at the address
	ExitTimeout     = 124 // `berth wait --timeout` ran out (like timeout(1))
	ExitInterrupted = 130 // interrupted by Ctrl-C (128+SIGINT)
)

// ExitCodesHelp documents the exit codes in command help.
const ExitCodesHelp = `Exit codes:
  0    success (for wait, run: every job Done)
  1    failure (for wait, run: a job Failed)
  2    usage error: bad flag, argument or value; no such job
  3    no berth server at the address (nothing, or something else, answers)
  124  wait --timeout ran out
  127  run: the command was not found
  130  interrupted (Ctrl-C)
A foreground "berth run" exits with the job's exit code (128+N if signal N
ended it).`

// ExitError ends the command with Code. Err, if set, is printed; a nil Err
// means the command already said all there was to say.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit returns an error that ends the command with code, printing nothing;
// nil for code 0.
func Exit(code int) error {
	if code == ExitOK {
		return nil
	}
	return &ExitError{Code: code}
}

// FlagError is a usage error: a bad flag, flag value or argument.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf returns a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// FlagErrorFunc makes cobra's flag parsing errors FlagErrors; set it on
// the root command.
func FlagErrorFunc(_ *cobra.Command, err error) error { return &FlagError{Err: err} }

// ExitCode maps an error returned by a command to berth's exit code.
func ExitCode(err error) int {
	var exit *ExitError
	var flag *FlagError
	var noServer *client.NoServerError
	var invalid *pflag.InvalidValueError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &exit):
		return exit.Code
	case errors.As(err, &noServer), IsForeign(err):
		return ExitNoServer
	case errors.As(err, &flag), errors.As(err, &invalid), IsCobraUsage(err):
		return ExitUsage
	case errors.Is(err, job.ErrNotFound):
		return ExitUsage
	}
	return ExitFailure
}

// IsForeign reports an answer from something that is not a berth server:
// a wrong address, exit 3 as with no server.
func IsForeign(err error) bool {
	var apiErr *client.APIError
	return errors.As(err, &apiErr) && apiErr.Foreign && apiErr.Code != api.CodeUnavailable
}

// IsCobraUsage reports errors cobra makes for unknown commands and flags,
// which it does not type.
func IsCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command ") || strings.HasPrefix(s, "unknown flag: ") ||
		strings.HasPrefix(s, "unknown shorthand flag: ") || strings.HasPrefix(s, "flag needs an argument")
}

// Failures tallies errors of commands that act on several jobs: each
// failure is printed and the others still run; the command then exits 1,
// or 2 if every failure was an unknown job.
type Failures struct {
	Failed, NotFound int
}

// Add counts err (if not nil), printing it through print.
func (f *Failures) Add(err error, print func(error)) {
	if err == nil {
		return
	}
	f.Failed++
	if errors.Is(err, job.ErrNotFound) {
		f.NotFound++
	}
	print(err)
}

// Err returns the error the command ends with, nil if nothing failed.
func (f *Failures) Err() error {
	switch {
	case f.Failed == 0:
		return nil
	case f.Failed == f.NotFound:
		return Exit(ExitUsage)
	}
	return Exit(ExitFailure)
}

// IsNoServer reports whether err says no berth server answers; commands acting on
// several jobs stop at once then instead of failing for each.
func IsNoServer(err error) bool {
	var ns *client.NoServerError
	return errors.As(err, &ns) || IsForeign(err)
}
