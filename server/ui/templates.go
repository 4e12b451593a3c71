package ui

import (
	"encoding/json"
	"html/template"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-run/berth/internal/cli/display"
	"github.com/berth-run/berth/internal/cli/tableprinter"
	"github.com/berth-run/berth/job"
)

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"lower":      func(s job.State) string { return strings.ToLower(string(s)) },
	"taskCounts": display.TaskCounts,
	"ago": func(now time.Time, t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return tableprinter.Relative(now, v)
		case *time.Time:
			if v == nil {
				return ""
			}
			return tableprinter.Relative(now, *v)
		}
		return ""
	},
	"iso": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if !v.IsZero() {
				return v.UTC().Format(time.RFC3339)
			}
		case *time.Time:
			if v != nil {
				return v.UTC().Format(time.RFC3339)
			}
		}
		return ""
	},
	"stateText": func(st job.State, sub job.SubState) string { return strings.TrimSpace(string(st) + " " + sub.String()) },
	"ref":       func(t *job.Task) string { return t.Ref().String() },
	"exit":      display.ExitCode,
	"bytes":     display.Bytes,
	"dur":       func(d time.Duration) string { return tableprinter.Duration(false, d) },
	"taskFields": func(t *job.Task, now time.Time) [][2]string {
		f := fields{}
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
		f.add("Exit code", display.ExitCode(t.ExitCode))
		f.add("Signal", t.Signal)
		f.add("Message", t.Message)
		f.add("Submitted", timeText(&t.SubmittedAt))
		f.add("Started", timeText(t.StartedAt))
		f.add("Finished", timeText(t.FinishedAt))
		if t.StartedAt != nil {
			f.add("Duration", tableprinter.Duration(false, t.Duration(now)))
		}
		if t.CPUTime != 0 {
			f.add("CPU", tableprinter.Duration(false, t.CPUTime.Std()))
		}
		if t.MaxRSS != 0 {
			f.add("Max RSS", display.Bytes(t.MaxRSS))
		}
		f.add("Stdout", t.Stdout)
		f.add("Stderr", t.Stderr)
		return f
	},
	"specJSON": func(j *job.Job) string {
		b, _ := json.MarshalIndent(j.Spec, "", "  ")
		return string(b)
	},
	"pct": func(n, total int) string {
		if total == 0 {
			return "0"
		}
		return strconv.FormatFloat(100*float64(n)/float64(total), 'f', 2, 64)
	},
	"free": func(slots, used int) int { return max(slots-used, 0) },
	"kv": func(m map[string]string) string {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, k+"="+m[k])
		}
		return strings.Join(parts, " ")
	},
	"row":   func(j *job.Job, now time.Time) rowData { return rowData{Job: j, Now: now} },
	"since": func(now, t time.Time) string { return tableprinter.Duration(false, now.Sub(t).Round(time.Second)) },
}).ParseFS(assets, "assets/*.html"))

type fields [][2]string

func (f *fields) add(k, v string) {
	if v != "" {
		*f = append(*f, [2]string{k, v})
	}
}

func timeText(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func kvText(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

// jobFields are the job's fields as berth show prints them.
func jobFields(j *job.Job) [][2]string {
	f := fields{}
	t := &j.Template
	f.add("Job", strconv.FormatInt(j.ID, 10))
	f.add("Name", j.Name)
	f.add("State", strings.TrimSpace(string(j.State)+" "+j.SubState.String()))
	f.add("Tasks", display.TaskCounts(j))
	f.add("Command", display.CommandLine(t))
	f.add("Image", t.Image)
	f.add("Workdir", t.WorkDir)
	f.add("Env", kvText(t.Env))
	if t.TimeLimit != 0 {
		f.add("Time limit", t.TimeLimit.String())
	}
	if t.Rerunnable {
		f.add("Rerunnable", "yes, at most "+strconv.Itoa(max(t.MaxAttempts, 1))+" attempts")
	}
	f.add("Output path", t.OutputPath)
	f.add("Error path", t.ErrorPath)
	f.add("Extensions", kvText(t.Extensions))
	if j.Array != nil {
		f.add("Array", j.Array.String())
	}
	if len(j.Inputs) > 0 {
		f.add("Inputs", strconv.Itoa(len(j.Inputs)))
	}
	if j.MaxParallel > 0 {
		f.add("Max parallel", strconv.Itoa(j.MaxParallel))
	}
	if len(j.After) > 0 {
		var ids []string
		for _, id := range j.After {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
		f.add("After", strings.Join(ids, ","))
	}
	f.add("Labels", kvText(j.Labels))
	f.add("Pool", j.Pool)
	f.add("Constraints", kvText(j.Constraints))
	f.add("Submit dir", j.SubmitDir)
	if j.Priority != 0 {
		f.add("Priority", strconv.Itoa(j.Priority))
	}
	f.add("Submitted", timeText(&j.SubmittedAt))
	f.add("Finished", timeText(j.FinishedAt))
	if j.HasMoreData {
		f.add("More data", "yes: berth receive "+strconv.FormatInt(j.ID, 10))
	}
	return f
}
