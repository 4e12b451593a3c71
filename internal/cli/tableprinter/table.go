// Package tableprinter prints rows: on a terminal as aligned columns under a
// header, otherwise as tab-separated values without a header, one row a
// line, so that scripts can cut and sort them.
package tableprinter

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Table gathers rows and prints them.
type Table struct {
	out    io.Writer
	tty    bool
	header []string
	rows   [][]string
}

// New returns a table printing to out; tty selects the terminal form.
func New(out io.Writer, tty bool, header ...string) *Table {
	return &Table{out: out, tty: tty, header: header}
}

// AddRow adds a row of fields.
func (t *Table) AddRow(fields ...string) { t.rows = append(t.rows, fields) }

// Len returns the number of rows added.
func (t *Table) Len() int { return len(t.rows) }

// Render prints the table.
func (t *Table) Render() error {
	if !t.tty {
		for _, r := range t.rows {
			for i, f := range r {
				// A tab or newline in a field would break the row apart.
				r[i] = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(f)
			}
			if _, err := fmt.Fprintln(t.out, strings.Join(r, "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(t.out, 0, 8, 2, ' ', 0)
	if len(t.header) > 0 {
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	}
	for _, r := range t.rows {
		for i, f := range r {
			if f == "" {
				r[i] = "-"
			}
			r[i] = strings.NewReplacer("\t", " ", "\n", "⏎").Replace(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// Time renders t: relative to now on a terminal ("3 minutes ago"), RFC3339
// otherwise. The zero time renders as "".
func Time(tty bool, now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if !tty {
		return t.UTC().Format(time.RFC3339)
	}
	return Relative(now, t)
}

// Relative renders how long ago t was (or how far ahead it is).
func Relative(now, t time.Time) string {
	d := now.Sub(t)
	suffix := "ago"
	if d < 0 {
		d, suffix = -d, "from now"
	}
	var s string
	switch {
	case d < time.Minute:
		if d < 2*time.Second {
			return "just now"
		}
		s = plural(int(d/time.Second), "second")
	case d < time.Hour:
		s = plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		s = plural(int(d/time.Hour), "hour")
	case d < 30*24*time.Hour:
		s = plural(int(d/(24*time.Hour)), "day")
	default:
		return t.Format("Jan 2, 2006")
	}
	return s + " " + suffix
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// Duration renders d rounded for people on a terminal, exactly otherwise.
// Zero renders as "".
func Duration(tty bool, d time.Duration) string {
	if d == 0 {
		return ""
	}
	if !tty {
		return d.String()
	}
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
