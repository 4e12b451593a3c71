// Package tableprinter prints rows: on a terminal as aligned columns under a
// header, otherwise as tab-separated values without a header, one row a
// line, so that scripts can cut and sort them.
package tableprinter

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mattn/go-runewidth"
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
	rows := t.rows
	if len(t.header) > 0 {
		rows = append([][]string{t.header}, rows...)
	}
	clean := strings.NewReplacer("\t", " ", "\n", "⏎")
	var widths []int
	for _, r := range rows {
		for i, f := range r {
			if f == "" {
				f = "-"
			}
			r[i] = clean.Replace(f)
			if i == len(widths) {
				widths = append(widths, 0)
			}
			// Columns as wide as they show: a CJK character or an emoji
			// takes two cells, a combining mark none.
			widths[i] = max(widths[i], runewidth.StringWidth(r[i]))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		b.Reset()
		for i, f := range r {
			b.WriteString(f)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-runewidth.StringWidth(f)+2))
			}
		}
		b.WriteByte('\n')
		if _, err := io.WriteString(t.out, b.String()); err != nil {
			return err
		}
	}
	return nil
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

// Relative renders how long ago t was (or how far ahead it is): "just
// now", "3 minutes ago", "2 days from now", and past a month the date.
func Relative(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 2*time.Second && d > -2*time.Second:
		return "just now"
	case d >= 30*24*time.Hour || d <= -30*24*time.Hour:
		return t.Format("Jan 2, 2006")
	}
	return humanize.RelTime(t, now, "ago", "from now")
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
