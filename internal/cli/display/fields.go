package display

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-run/berth/job"
)

// Field is one line of a job's or a task's description, as `berth show`
// prints it and the dashboard shows it.
type Field struct{ Key, Value string }

// Formats say how times, durations and sizes read where the fields are
// shown (a terminal, a script, a web page). Each returns "" for nothing.
type Formats struct {
	Time     func(*time.Time) string
	Duration func(time.Duration) string
	Bytes    func(int64) string
}

type fields []Field

func (f *fields) add(k, v string) {
	if v != "" {
		*f = append(*f, Field{k, v})
	}
}

// JobFields describes a job; fields without a value are left out.
func JobFields(j *job.Job, fm Formats) []Field {
	var f fields
	t := &j.Template
	f.add("Job", strconv.FormatInt(j.ID, 10))
	f.add("Name", j.Name)
	f.add("State", strings.TrimSpace(string(j.State)+" "+j.SubState.String()))
	f.add("Waiting", j.Waiting)
	f.add("Tasks", TaskCounts(j))
	switch o := j.OpenJD; {
	case j.HasSteps():
		ids := make([]string, len(j.Steps))
		for i, id := range j.Steps {
			ids[i] = strconv.FormatInt(id, 10)
		}
		f.add("OpenJD", "an OpenJD job; its steps are jobs "+strings.Join(ids, ", "))
	case o != nil && o.Job != 0:
		f.add("OpenJD", fmt.Sprintf("step %q of OpenJD job %d", o.Step, o.Job))
	case o != nil:
		f.add("OpenJD", fmt.Sprintf("step %q of an OpenJD job (--label %s=%d)", o.Step, job.OpenJDLabel, o.Submission))
	}
	if j.OpenJD == nil { // an OpenJD job runs its template's actions
		f.add("Command", CommandLine(t))
	}
	f.add("Image", t.Image)
	f.add("Workdir", t.WorkDir)
	f.add("Env", KVs(t.Env))
	f.add("Stage in", stageIn(t.StageIn))
	f.add("Stage out", stageOut(t.StageOut))
	f.add("Output path", t.OutputPath)
	f.add("Error path", t.ErrorPath)
	if t.TimeLimit > 0 {
		f.add("Time limit", t.TimeLimit.String())
	}
	if t.Rerunnable {
		f.add("Rerunnable", "yes, at most "+strconv.Itoa(max(t.MaxAttempts, 1))+" attempts")
		d := cmp.Or(t.RetryDelay, job.RetryDelayDefault)
		f.add("Retry delay", d.String()+", doubling up to "+max(cmp.Or(t.RetryDelayMax, job.RetryDelayMaxDefault), d).String())
	}
	f.add("Extensions", KVs(t.Extensions))
	if j.Array != nil {
		f.add("Array", j.Array.String())
	}
	if len(j.Inputs) > 0 {
		f.add("Inputs", strconv.Itoa(len(j.Inputs)))
	}
	if j.MaxParallel > 0 {
		f.add("Max parallel", strconv.Itoa(j.MaxParallel))
	}
	if j.Hold {
		f.add("Hold", "submitted held")
	}
	if len(j.After) > 0 {
		ids := make([]string, len(j.After))
		for i, id := range j.After {
			ids[i] = strconv.FormatInt(id, 10)
		}
		f.add("After", strings.Join(ids, ","))
	}
	f.add("Labels", KVs(j.Labels))
	f.add("Pool", j.Pool)
	f.add("Constraints", KVs(j.Constraints))
	f.add("Owner", j.Owner)
	f.add("Submit dir", j.SubmitDir)
	if j.Priority != 0 {
		f.add("Priority", strconv.Itoa(j.Priority))
	}
	f.add("Submitted", fm.Time(&j.SubmittedAt))
	f.add("Finished", fm.Time(j.FinishedAt))
	return f
}

// TaskFields describes a task at now; fields without a value are left out.
func TaskFields(t *job.Task, now time.Time, fm Formats) []Field {
	var f fields
	f.add("Task", t.Ref().String())
	f.add("State", strings.TrimSpace(string(t.State)+" "+t.SubState.String()))
	f.add("Input", t.Input)
	f.add("Attempt", strconv.Itoa(t.Attempt))
	f.add("Worker", t.Worker)
	f.add("Host", t.Host)
	if t.PID != 0 {
		f.add("PID", strconv.Itoa(t.PID))
	}
	f.add("Container", t.ContainerID)
	f.add("Hostname", t.Hostname)
	if len(t.Ports) > 0 {
		ports := make([]string, len(t.Ports))
		for i, p := range t.Ports {
			ports[i] = p.String()
		}
		f.add("Ports", strings.Join(ports, ", "))
	}
	f.add("Session", t.Session)
	f.add("Exit code", ExitCode(t.ExitCode))
	f.add("Signal", t.Signal)
	f.add("Message", t.Message)
	if t.RetryAt != nil && t.State == job.Requeued && t.SubState.Kind == job.ReasonRetrying {
		f.add("Next attempt", fm.Time(t.RetryAt))
	}
	f.add("Submitted", fm.Time(&t.SubmittedAt))
	f.add("Started", fm.Time(t.StartedAt))
	f.add("Finished", fm.Time(t.FinishedAt))
	f.add("Duration", fm.Duration(t.Duration(now)))
	f.add("CPU", fm.Duration(t.CPUTime.Std()))
	f.add("Max RSS", fm.Bytes(t.MaxRSS))
	f.add("Stdout", t.Stdout)
	f.add("Stderr", t.Stderr)
	return f
}

// KVs renders a map as "k=v k=v", keys sorted.
func KVs(m map[string]string) string {
	var s []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s = append(s, k+"="+m[k])
	}
	return strings.Join(s, " ")
}

// stageIn renders stage-in mounts as host:container[:rw].
func stageIn(ms []job.Mount) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Host + ":" + m.Container
		if m.RW {
			out[i] += ":rw"
		}
	}
	return strings.Join(out, ", ")
}

// stageOut renders stage-out copies as container -> host.
func stageOut(ms []job.Mount) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Container + " -> " + m.Host
	}
	return strings.Join(out, ", ")
}
