package fleet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/job"
)

// Marker returns a shell command that appends a marker of the running
// attempt to dir/JOB.INDEX (dir: a path without spaces or quotes), kind
// being START or END:
//
//	START|END <job> <index> <attempt> <pid> <uptime> <host>
//
// The PID is the shell's ($$); the time is the host's uptime (/proc/uptime,
// in 1/100 s: busybox's date has no sub-second format), the same clock in
// every container. Appends to one file are ordered, so the file's line
// order is the order in which runs started and ended; the times only help
// reading it.
func Marker(dir, kind string) string {
	return `read up _ < /proc/uptime; read h < /proc/sys/kernel/hostname; ` +
		`echo "` + kind + ` $BERTH_JOB_ID $BERTH_TASK_INDEX $BERTH_ATTEMPT $$ $up $h" >> ` + dir + `/$BERTH_JOB_ID.$BERTH_TASK_INDEX`
}

// markScript is the job of MarkedJob: START, a sleep of $1 seconds (the
// first attempt) or $2 (the others), END.
var markScript = Marker("/marks", "START") + `
s=$1
[ "$BERTH_ATTEMPT" -gt 1 ] && s=$2
sleep "$s"
` + Marker("/marks", "END")

// MarkedJob returns a job that writes START and END markers into the
// workers' /marks around a sleep of first seconds in its first attempt and
// later seconds in the others (decimals, e.g. "1.5"). A first attempt
// longer than a fault lets the markers tell whether it was stopped.
func MarkedJob(first, later string, rerunnable bool) job.Spec {
	return job.Spec{Template: job.Template{Command: "sh", Args: []string{"-c", markScript, "mark", first, later}, Rerunnable: rerunnable}}
}

// Run is one run of a task as its markers tell.
type Run struct {
	Attempt int
	PID     int
	Host    string
	// Start and End are the host's uptime in seconds; End is -1 for a run
	// that wrote no END (it was killed, or still runs).
	Start, End float64
	// startLine and endLine order the run's markers in the task's file.
	startLine, endLine int
}

// Ended reports whether the run wrote its END.
func (r Run) Ended() bool { return r.endLine >= 0 }

func (r Run) String() string {
	end := "no END"
	if r.Ended() {
		end = fmt.Sprintf("END at %.2f", r.End)
	}
	return fmt.Sprintf("attempt %d (pid %d on %s, START at %.2f, %s)", r.Attempt, r.PID, r.Host, r.Start, end)
}

// TaskKey names a task: its job and index.
type TaskKey struct {
	Job   int64
	Index int
}

func (k TaskKey) String() string { return fmt.Sprintf("%d.%d", k.Job, k.Index) }

// ReadMarks reads the markers of every task in dir (the fleet's Marks).
func ReadMarks(dir string) (map[TaskKey][]Run, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[TaskKey][]Run{}
	for _, e := range ents {
		var k TaskKey
		if _, err := fmt.Sscanf(e.Name(), "%d.%d", &k.Job, &k.Index); err != nil {
			continue
		}
		if out[k], err = ReadTask(dir, k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadTask reads the markers of task k in dir; none is no error.
func ReadTask(dir string, k TaskKey) ([]Run, error) {
	b, err := os.ReadFile(filepath.Join(dir, k.String()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	runs, err := parseMarks(string(b))
	if err != nil {
		return nil, fmt.Errorf("markers of task %s: %w", k, err)
	}
	return runs, nil
}

// parseMarks parses one task's markers; an END belongs to the START of the
// same attempt, host and PID.
func parseMarks(s string) ([]Run, error) {
	var runs []Run
	for i, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			// A run killed between the shell's open of the file and its
			// write leaves it empty.
			continue
		}
		if len(f) != 7 {
			return nil, fmt.Errorf("line %d %q: want 7 fields", i+1, line)
		}
		attempt, err1 := strconv.Atoi(f[3])
		pid, err2 := strconv.Atoi(f[4])
		at, err3 := strconv.ParseFloat(f[5], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("line %d %q: bad number", i+1, line)
		}
		switch f[0] {
		case "START":
			runs = append(runs, Run{Attempt: attempt, PID: pid, Host: f[6], Start: at, End: -1, startLine: i, endLine: -1})
		case "END":
			k := slices.IndexFunc(runs, func(r Run) bool { return r.Attempt == attempt && r.PID == pid && r.Host == f[6] && !r.Ended() })
			if k < 0 {
				return nil, fmt.Errorf("line %d %q: END without its START", i+1, line)
			}
			runs[k].End, runs[k].endLine = at, i
		default:
			return nil, fmt.Errorf("line %d %q: want START or END", i+1, line)
		}
	}
	return runs, nil
}

// Overlaps returns the pairs of a task's runs that ran at once: the first
// wrote its END after the second wrote its START.
func Overlaps(runs []Run) [][2]Run {
	var out [][2]Run
	for _, a := range runs {
		for _, b := range runs {
			if a.Ended() && b.startLine > a.startLine && b.startLine < a.endLine {
				out = append(out, [2]Run{a, b})
			}
		}
	}
	return out
}

// Submitted is a job a test submitted (the server acknowledged it).
type Submitted struct {
	ID         int64
	Tasks      int // 1 for a plain job
	Rerunnable bool
}

// Report is what Check found.
type Report struct {
	// Violations are broken promises, each naming its task.
	Violations []string
	// Tasks counts the tasks checked; Done and Lost those that ended Done
	// and Failed LOST.
	Tasks, Done, Lost int
	// Rerun counts the tasks that started more than once; Killed the runs
	// that wrote no END; LostEnded the LOST tasks whose run did write its
	// END (it ran to its end, but the server could not hear of it in time).
	Rerun, Killed, LostEnded int
	// Reruns describes the tasks that started more than once.
	Reruns []string
}

func (r Report) String() string {
	s := fmt.Sprintf("%d tasks: %d Done, %d Failed LOST (%d of them ran to their END); %d started more than once; %d runs killed; %d violations",
		r.Tasks, r.Done, r.Lost, r.LostEnded, r.Rerun, r.Killed, len(r.Violations))
	if len(r.Reruns) > 0 {
		s += "\nstarted more than once:\n  " + strings.Join(r.Reruns, "\n  ")
	}
	return s
}

// Check compares the markers in dir with what the server recorded of the
// submitted jobs (through c), once all should have ended:
//   - every submitted task ended (Done or Failed), and there are markers of
//     no other task;
//   - no run wrote END after another run of its task wrote START (never
//     twice at once), and no attempt started twice;
//   - a task recorded Done ran to its END in the attempt recorded, and
//     became Done exactly once;
//   - a task that is not rerunnable started at most once, and ended Done
//     or Failed LOST (the jobs exit 0: any other failure is a fault);
//   - a rerunnable task ended Done.
func Check(ctx context.Context, c *client.Client, dir string, jobs []Submitted) (Report, error) {
	var rep Report
	marks, err := ReadMarks(dir)
	if err != nil {
		return rep, err
	}
	bad := func(k TaskKey, format string, args ...any) {
		rep.Violations = append(rep.Violations, k.String()+": "+fmt.Sprintf(format, args...))
	}
	seen := map[TaskKey]bool{}
	for _, j := range jobs {
		for i := range max(j.Tasks, 1) {
			k := TaskKey{j.ID, i}
			seen[k] = true
			rep.Tasks++
			ref := job.Ref{Job: j.ID, Index: i, HasIndex: j.Tasks > 1}
			tk, err := c.Task(ctx, ref)
			if err != nil {
				bad(k, "acknowledged but not found: %v", err)
				continue
			}
			checkTask(&rep, k, tk, j.Rerunnable, marks[k], bad)
		}
	}
	for k := range marks {
		if !seen[k] {
			bad(k, "markers of a task nobody submitted: %v", marks[k])
		}
	}
	slices.Sort(rep.Violations)
	slices.Sort(rep.Reruns)
	return rep, nil
}

func checkTask(rep *Report, k TaskKey, tk *api.TaskDetail, rerunnable bool, runs []Run, bad func(TaskKey, string, ...any)) {
	attempts := map[int]bool{}
	for _, r := range runs {
		if attempts[r.Attempt] {
			bad(k, "attempt %d started twice: %v", r.Attempt, runs)
		}
		attempts[r.Attempt] = true
		if !r.Ended() {
			rep.Killed++
		}
	}
	if len(runs) > 1 {
		rep.Rerun++
		rep.Reruns = append(rep.Reruns, fmt.Sprintf("%s (%s %s, attempt %d on %s): %v", k, tk.State, tk.SubState.Kind, tk.Attempt, tk.Worker, runs))
	}
	for _, o := range Overlaps(runs) {
		bad(k, "ran twice at once: %v wrote END after %v wrote START", o[0], o[1])
	}
	if !rerunnable && len(runs) > 1 {
		bad(k, "not rerunnable, but started %d times: %v", len(runs), runs)
	}
	dones := 0
	for _, h := range tk.History {
		if h.State == job.Done {
			dones++
		}
	}
	switch {
	case tk.State == job.Done:
		rep.Done++
		i := slices.IndexFunc(runs, func(r Run) bool { return r.Attempt == tk.Attempt })
		if i < 0 || !runs[i].Ended() {
			bad(k, "Done in attempt %d, which did not run to its END: %v", tk.Attempt, runs)
		}
		if dones != 1 {
			bad(k, "became Done %d times: %+v", dones, tk.History)
		}
	case tk.State == job.Failed && tk.SubState.Kind == job.ReasonLost && !rerunnable:
		rep.Lost++
		if len(runs) > 0 && runs[len(runs)-1].Ended() {
			rep.LostEnded++
		}
	case !tk.State.Terminal():
		bad(k, "did not end: %s %s", tk.State, tk.SubState.Kind)
	default:
		bad(k, "ended %s %s %s (rerunnable %v): %v", tk.State, tk.SubState.Kind, tk.SubState.Value, rerunnable, runs)
	}
}
