package worker

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
)

// notifier is an executor that reports given state changes.
type notifier struct {
	executor.Executor
	changes []executor.Status
}

func (n *notifier) Changes(context.Context, string) (<-chan executor.Status, error) {
	ch := make(chan executor.Status, len(n.changes))
	for _, st := range n.changes {
		ch <- st
	}
	close(ch)
	return ch, nil
}

// TestFollowChanges checks that the executor's own state changes become
// requeued and running events, with the restarts.
func TestFollowChanges(t *testing.T) {
	t.Parallel()
	ex := &notifier{changes: []executor.Status{{State: job.Requeued, Restarts: 1}, {State: job.Running, Restarts: 1}}}
	w := &Worker{cfg: Config{ID: "w1", Executor: ex}, life: context.Background()}
	tk := &task{key: dispatch.TaskKey{Job: 1, Attempt: 1}, id: "1.0.1", log: slog.New(slog.DiscardHandler), events: newEventQueue(context.Background(), nil)}
	<-w.followChanges(tk)
	require.Len(t, tk.events.q, 2)
	require.Equal(t, dispatch.EventRequeued, tk.events.q[0].Kind)
	require.Equal(t, 1, tk.events.q[0].Restarts)
	require.Equal(t, dispatch.EventRunning, tk.events.q[1].Kind)
}

// TestEndOfCopiesAndRestarts checks how a failed copy to the host and a
// restart count show in the end.
func TestEndOfCopiesAndRestarts(t *testing.T) {
	t.Parallel()
	code := func(n int) *int { return &n }
	copyErr := errors.New("stage_out[0] /out → /res: not in the container")
	require.Equal(t, dispatch.End{State: job.Failed, SubState: job.SubState{Kind: job.ReasonStageOut}, ExitCode: code(0),
		Message: copyErr.Error()}, *endOf(&executor.Exit{CopyErr: copyErr}, ""))
	require.Equal(t, dispatch.End{State: job.Failed, SubState: job.ExitCode(3), ExitCode: code(3),
		Message: copyErr.Error() + "; restarted 2 times by its restart policy"},
		*endOf(&executor.Exit{ExitCode: 3, CopyErr: copyErr, Restarts: 2}, ""))
	require.Equal(t, dispatch.End{State: job.Failed, SubState: job.ExitCode(3), ExitCode: code(3),
		Message: "restarted 2 times by its restart policy"}, *endOf(&executor.Exit{ExitCode: 3, Restarts: 2}, ""))
	// Output the disk could not take is noted; the end stands.
	outErr := errors.New("write /d/1.0.stdout: no space left on device")
	require.Equal(t, dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: code(0),
		Message: job.OutputIncomplete + outErr.Error()}, *endOf(&executor.Exit{OutputErr: outErr}, ""))
}
