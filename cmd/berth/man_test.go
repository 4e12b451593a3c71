package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli"
	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/man"
)

// TestManPages generates the pages of every command, serve and worker
// included, as make man does.
func TestManPages(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "127.0.0.1:1", false)
	dir := filepath.Join(t.TempDir(), "man")
	date := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, man.Generate(cli.NewRootCmd(env.F, extraCommands...), dir, "v1.2.3", date))

	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	for _, want := range []string{"berth.1", "berth-run.1", "berth-ls.1", "berth-receive.1", "berth-serve.1",
		"berth-worker.1", "berth-workers-add.1", "berth-completion-bash.1", "berth-stop.1"} {
		require.Contains(t, names, want)
	}
	require.NotContains(t, names, "berth-man.1", "hidden commands have no page")

	b, err := os.ReadFile(filepath.Join(dir, "berth-ls.1"))
	require.NoError(t, err)
	page := string(b)
	require.True(t, strings.HasPrefix(page, `.nh`+"\n"+`.TH "BERTH-LS" "1" "Mar 2026" "berth v1.2.3" "berth manual"`), page[:min(len(page), 200)])
	require.Contains(t, page, "UNREAD")
	require.Contains(t, page, `\fB--state\fP`)
	require.Contains(t, page, "berth(1)", "SEE ALSO the parent")
	require.NotContains(t, page, "Auto generated")
}
