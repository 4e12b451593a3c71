//go:build unix

package run

import "golang.org/x/sys/unix"

// signalNumber returns the number of a signal named like "SIGKILL" (or
// "KILL"), 0 if unknown.
func signalNumber(name string) int {
	if len(name) < 3 || name[:3] != "SIG" {
		name = "SIG" + name
	}
	return int(unix.SignalNum(name))
}
