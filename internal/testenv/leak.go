package testenv

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// MainCheckingLeaks runs m's tests and fails the run if a goroutine whose
// stack mentions pkg ("berth/executor/process.") outlives them, after
// giving stragglers two seconds to end.
func MainCheckingLeaks(m *testing.M, pkg string) {
	code := m.Run()
	if code == 0 {
		if leaked := Leaked(pkg); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked returns the stacks of the goroutines that mention pkg, waiting up
// to two seconds for them to end; "" once there are none.
func Leaked(pkg string) string {
	var leaked []string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		leaked = leaked[:0]
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, pkg) && !strings.Contains(g, "testenv.Leaked") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
	}
	return strings.Join(leaked, "\n\n")
}
