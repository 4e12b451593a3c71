// Command berth is the berth command line. Its commands live in
// internal/cli; this package only adds the commands that link more than
// the client, and runs it.
package main

import "github.com/berth-run/berth/internal/cli"

// extraCommands are the commands that need the server's packages. Each
// lives in its own file of this package and registers itself from init:
//
//	// serve.go
//	func init() { extraCommands = append(extraCommands, newCmdServe) }
//	func newCmdServe(f *cmdutil.Factory) *cobra.Command { ... }
var extraCommands []cli.CommandFunc

func main() { cli.Exit(extraCommands...) }
