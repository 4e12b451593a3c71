package job

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCanTransitionExhaustive checks every (from, to, cause) against the
// table: allowed exactly when listed, and CheckTransition agrees.
func TestCanTransitionExhaustive(t *testing.T) {
	t.Parallel()
	listed := map[Transition]bool{}
	for _, tr := range Transitions {
		require.False(t, listed[tr], "listed twice: %+v", tr)
		listed[tr] = true
	}
	n, allowed := 0, 0
	for _, from := range States {
		for _, to := range States {
			for _, c := range Causes {
				n++
				ok := CanTransition(from, to, c)
				require.Equal(t, listed[Transition{from, to, c}], ok, "%s → %s on %s", from, to, c)
				err := CheckTransition(from, to, c)
				if ok {
					allowed++
					require.NoError(t, err)
				} else {
					require.ErrorContains(t, err, "no transition from "+string(from)+" to "+string(to)+" on "+string(c))
				}
			}
		}
	}
	require.Equal(t, len(States)*len(States)*len(Causes), n)
	require.Equal(t, len(Transitions), allowed, "every transition listed is between known states, for a known cause")
	require.False(t, CanTransition("Bogus", Queued, CauseRelease))
	require.False(t, CanTransition(QueuedHeld, Queued, "bogus"))
}

// TestTransitionsRules checks the rules the table keeps, pair by pair of
// states.
func TestTransitionsRules(t *testing.T) {
	t.Parallel()
	// canAttempt: the states an attempt on a worker can be in.
	canAttempt := map[State]bool{Running: true, Suspended: true, Requeued: true}
	// canWait: the states of a task not (yet) on a worker.
	canWait := map[State]bool{Undetermined: true, Queued: true, QueuedHeld: true, Requeued: true, RequeuedHeld: true}
	for _, from := range States {
		for _, to := range States {
			for _, c := range Causes {
				if !CanTransition(from, to, c) {
					continue
				}
				what := string(from) + " → " + string(to) + " on " + string(c)
				require.False(t, from.Terminal(), "%s: Done and Failed are final", what)
				require.NotEqual(t, Undetermined, to, "%s: nothing goes back to Undetermined", what)
				require.Equal(t, from == Undetermined, c == CauseSubmit, "%s: only a submission starts from Undetermined", what)
				if c.OnAttempt() {
					require.True(t, canAttempt[from], "%s: acts on an attempt, and %s has none", what, from)
				} else {
					require.True(t, canWait[from], "%s: acts on a waiting task, and %s is not one", what, from)
				}
				if from.Held() {
					require.True(t, to == Failed || to == Queued && from == QueuedHeld || to == Requeued && from == RequeuedHeld,
						"%s: a held task is only released or ended", what)
				}
				if to.Held() {
					require.Contains(t, []Cause{CauseHold, CauseSubmit}, c, "%s: only a hold holds", what)
				}
				if to.Active() && !from.Active() {
					require.Contains(t, []Cause{CauseStart, CauseRestart}, c, "%s: a task runs only once granted", what)
				}
			}
		}
	}
}

// TestTransitionsComplete checks that every cause is used, every state
// reachable from a submission, and an end reachable from every state.
func TestTransitionsComplete(t *testing.T) {
	t.Parallel()
	for _, c := range Causes {
		require.True(t, slices.ContainsFunc(Transitions, func(tr Transition) bool { return tr.Cause == c }), "cause %s is never used", c)
	}
	next := map[State][]State{}
	prev := map[State][]State{}
	for _, tr := range Transitions {
		next[tr.From] = append(next[tr.From], tr.To)
		prev[tr.To] = append(prev[tr.To], tr.From)
	}
	reach := func(from State, edges map[State][]State) map[State]bool {
		seen := map[State]bool{from: true}
		todo := []State{from}
		for len(todo) > 0 {
			s := todo[0]
			todo = todo[1:]
			for _, n := range edges[s] {
				if !seen[n] {
					seen[n] = true
					todo = append(todo, n)
				}
			}
		}
		return seen
	}
	fromSubmit := reach(Undetermined, next)
	toDone, toFailed := reach(Done, prev), reach(Failed, prev)
	for _, s := range States {
		require.True(t, fromSubmit[s], "%s cannot be reached from a submission", s)
		if !s.Terminal() {
			require.True(t, toDone[s] && toFailed[s], "%s cannot end both Done and Failed", s)
		}
	}
}

// TestTransitionsDocumented checks that the table of docs/architecture.md
// lists exactly job.Transitions.
func TestTransitionsDocumented(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../docs/architecture.md")
	require.NoError(t, err)
	_, sec, ok := strings.Cut(string(data), "## The state machine of a task")
	require.True(t, ok, "docs/architecture.md has no state machine section")
	sec, _, _ = strings.Cut(sec, "\n## ")
	var doc []Transition
	rows := 0
	for line := range strings.Lines(sec) {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 3 || !strings.Contains(cells[1], "→") || strings.TrimSpace(cells[0]) == "cause" {
			continue
		}
		rows++
		c := Cause(strings.TrimSpace(cells[0]))
		require.Contains(t, Causes, c, "docs: unknown cause in %q", line)
		for pair := range strings.SplitSeq(cells[1], ";") {
			froms, tos, _ := strings.Cut(pair, "→")
			for _, f := range strings.Split(froms, ",") {
				for _, to := range strings.Split(tos, ",") {
					from, err := ParseState(strings.TrimSpace(f))
					require.NoError(t, err, line)
					to, err := ParseState(strings.TrimSpace(to))
					require.NoError(t, err, line)
					doc = append(doc, Transition{from, to, c})
				}
			}
		}
	}
	require.Equal(t, len(Causes), rows, "one row per cause")
	require.ElementsMatch(t, Transitions, doc)
}
