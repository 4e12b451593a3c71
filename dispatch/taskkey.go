package dispatch

import (
	"fmt"
	"strconv"
	"strings"
)

// String renders the key as "JOB.INDEX.ATTEMPT", the form executors use as
// task ID so that a restarted worker can tell which attempt a task was.
func (k TaskKey) String() string {
	return strconv.FormatInt(k.Job, 10) + "." + strconv.Itoa(k.Index) + "." + strconv.Itoa(k.Attempt)
}

// ParseTaskKey parses "JOB.INDEX.ATTEMPT" as TaskKey.String writes it.
func ParseTaskKey(s string) (TaskKey, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return TaskKey{}, fmt.Errorf("invalid task key %q: want JOB.INDEX.ATTEMPT", s)
	}
	j, err1 := strconv.ParseInt(parts[0], 10, 64)
	i, err2 := strconv.Atoi(parts[1])
	a, err3 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || j <= 0 || i < 0 || a < 0 {
		return TaskKey{}, fmt.Errorf("invalid task key %q: want JOB.INDEX.ATTEMPT with non-negative numbers", s)
	}
	return TaskKey{Job: j, Index: i, Attempt: a}, nil
}
