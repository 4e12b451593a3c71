package job

import (
	"fmt"
	"strings"
)

// StopSignals are the signals a stop may send first, by name (the last
// resort, SIGKILL, comes after the grace).
var StopSignals = []string{"SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGKILL"}

// ParseStopSignal parses the first signal of a stop: a name of
// StopSignals, with or without SIG, any case ("int", "SIGINT").
func ParseStopSignal(s string) (string, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	for _, sig := range StopSignals {
		if sig == name {
			return sig, nil
		}
	}
	return "", fmt.Errorf("unknown signal %q (want one of %s)", s, strings.Join(StopSignals, ", "))
}
