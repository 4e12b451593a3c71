// Package procmark finds processes by a marker in their environment: a
// KEY=VALUE that berth sets for the processes it starts, which their
// children inherit, so that they can be killed as a set after whatever
// started them is gone (the watchdog's fence, a worker's restart).
package procmark

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Kill kills every process whose environment holds marker, until none is
// left (they may fork meanwhile), and returns how many it killed.
func Kill(marker string) int {
	if marker == "" {
		return 0
	}
	want := append([]byte(marker), 0)
	killed := 0
	for range 10 {
		found := 0
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
			if err != nil || !bytes.HasPrefix(env, want) && !bytes.Contains(env, append([]byte{0}, want...)) {
				continue
			}
			if unix.Kill(pid, unix.SIGKILL) == nil {
				found++
			}
		}
		killed += found
		if found == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return killed
}
