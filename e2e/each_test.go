package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
)

// TestRunEachProgress fans out through the real server: the job ID first,
// progress lines as tasks end, and for the failure its reason and the last
// lines of its stderr.
func TestRunEachProgress(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--slots", "4")
	r := s.Berth("ok1\nbad\nok2\n", "run", "--each", "-", "--", "sh", "-c",
		`if [ {} = bad ]; then for i in 1 2 3 4 5 6 7; do echo "line $i" >&2; done; exit 3; fi; echo {}`)
	require.Equal(t, 1, r.Code, r.Stderr)
	lines := strings.Split(strings.TrimSuffix(r.Stderr, "\n"), "\n")
	require.Regexp(t, `^job \d+: 3 tasks$`, lines[0])
	require.Regexp(t, regexp.MustCompile(`(?m)^job \d+: 2 done, 1 failed, 0 running, 0 queued \(3 tasks, \d+s elapsed\)$`), r.Stderr)
	require.Contains(t, r.Stderr, ""+
		".2 (bad) failed: exit code 3\n"+
		"  | line 3\n  | line 4\n  | line 5\n  | line 6\n  | line 7\n"+
		"2 succeeded, 1 failed\n")
	require.NotContains(t, r.Stderr, "line 2")
	require.Regexp(t, `(?m)^2\tbad\tFailed\t3\t`, r.Stdout)
}

// TestRunEachShellQuoted: a line lands in a shell's -c script as one word,
// never as code; $BERTH_INPUT has it raw, and plain argv gets it as is.
func TestRunEachShellQuoted(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	evil := `it's; echo PWNED $(echo PWNED) "q"`
	for _, argv := range [][]string{
		{"sh", "-c", `printf '%s|%s\n' {} "$BERTH_INPUT"`},
		{"env", "A=1", "/bin/sh", "-ec", `printf '%s|%s\n' {} "$BERTH_INPUT"`},
		{"sh", "-c", `printf '%s|%s\n' "$1" "$BERTH_INPUT"`, "sh", "{}"},
	} {
		r := s.Berth(evil+"\n", append([]string{"run", "--json", "--each", "-", "--"}, argv...)...)
		require.Equal(t, 0, r.Code, r.Stderr)
		id := strings.Fields(r.Stderr)[1]
		got := s.Berth("", "logs", strings.TrimSuffix(id, ":")+".1")
		require.Equal(t, evil+"|"+evil+"\n", got.Stdout, "argv %q", argv)
	}
}
