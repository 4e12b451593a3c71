package ui

import (
	"encoding/json"
	"html/template"
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
	"taskFields": func(t *job.Task, now time.Time) []display.Field {
		return display.TaskFields(t, now, pageFormats)
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
	"free":  func(slots, used int) int { return max(slots-used, 0) },
	"kv":    display.KVs,
	"row":   func(j *job.Job, now time.Time) rowData { return rowData{Job: j, Now: now} },
	"since": func(now, t time.Time) string { return tableprinter.Duration(false, now.Sub(t).Round(time.Second)) },
}).ParseFS(assets, "assets/*.html"))

func timeText(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// pageFormats are how the dashboard shows times, durations and sizes.
var pageFormats = display.Formats{
	Time:     timeText,
	Duration: func(d time.Duration) string { return tableprinter.Duration(false, d) },
	Bytes:    display.Bytes,
}

// jobFields are the job's fields as berth show prints them.
func jobFields(j *job.Job) []display.Field {
	f := display.JobFields(j, pageFormats)
	if j.HasMoreData {
		f = append(f, display.Field{Key: "Unread output", Value: "yes: berth receive " + strconv.FormatInt(j.ID, 10)})
	}
	return f
}
