//go:build !unix

package run

// signalNumber knows the signals POSIX numbers the same everywhere.
func signalNumber(name string) int {
	switch name {
	case "SIGHUP", "HUP":
		return 1
	case "SIGINT", "INT":
		return 2
	case "SIGQUIT", "QUIT":
		return 3
	case "SIGKILL", "KILL":
		return 9
	case "SIGTERM", "TERM":
		return 15
	}
	return 0
}
