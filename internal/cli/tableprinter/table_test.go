package tableprinter

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRenderWide aligns columns by the cells they take on a terminal: a
// CJK character or an emoji takes two, a combining mark none.
func TestRenderWide(t *testing.T) {
	var b strings.Builder
	tb := New(&b, true, "ID", "NAME", "STATE")
	tb.AddRow("1", "レンダー", "Done")
	tb.AddRow("2", "café", "Failed")
	tb.AddRow("3", "🚀 go", "")
	tb.AddRow("10", "e\u0301t\u00e9", "Running")
	require.NoError(t, tb.Render())
	require.Equal(t, ""+
		"ID  NAME      STATE\n"+
		"1   レンダー  Done\n"+
		"2   café      Failed\n"+
		"3   🚀 go     -\n"+
		"10  e\u0301t\u00e9       Running\n", b.String())
}

// TestRenderPlain prints tab-separated rows without a header off a
// terminal, with tabs and newlines in fields made spaces.
func TestRenderPlain(t *testing.T) {
	var b strings.Builder
	tb := New(&b, false, "ID", "NAME")
	tb.AddRow("1", "a\tb\nc")
	tb.AddRow("2", "")
	require.NoError(t, tb.Render())
	require.Equal(t, "1\ta b c\n2\t\n", b.String())
}

func TestRelative(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{-time.Second, "just now"},
		{5 * time.Second, "5 seconds ago"},
		{3 * time.Minute, "3 minutes ago"},
		{-2 * time.Hour, "2 hours from now"},
		{36 * time.Hour, "1 day ago"},
		{40 * 24 * time.Hour, "Oct 28, 2026"},
	} {
		require.Equal(t, c.want, Relative(now, now.Add(-c.d)), c.d.String())
	}
}
