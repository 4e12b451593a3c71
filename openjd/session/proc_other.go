//go:build !unix

package session

import (
	"os"
	"os/exec"
)

func setProcessGroup(*exec.Cmd) {}

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

func terminate(cmd *exec.Cmd) error { return cmd.Process.Signal(os.Interrupt) }

func exitSignal(*exec.ExitError) string { return "" }
