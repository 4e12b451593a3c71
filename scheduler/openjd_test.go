package scheduler

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
)

// openjdSteps submits an OpenJD job of two steps of n tasks, the second
// waiting for the first, and returns their jobs.
func openjdSteps(t *testing.T, b *bundle, n int) []int64 {
	t.Helper()
	step := func(name string) job.Spec {
		return job.Spec{Name: "oj/" + name, OpenJD: &job.OpenJDStep{Step: name}, Array: &job.Array{Begin: 1, End: n, Step: 1}}
	}
	pid, ids, err := b.s.SubmitOpenJD(b.ctx, &job.OpenJDJob{Template: "t"}, job.Spec{Name: "oj"},
		[]OpenJDStepSpec{{Spec: step("A")}, {Spec: step("B"), Deps: []int{0}}})
	require.NoError(t, err)
	require.Len(t, ids, 2)
	p, err := b.st.JobGet(b.ctx, pid)
	require.NoError(t, err)
	require.Equal(t, ids, p.Steps)
	return ids
}

// TestOpenJDSubmit records the templates once and the steps as jobs, the
// second after the first, labelled with the submission.
func TestOpenJDSubmit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	ids := openjdSteps(t, b, 3)
	a, err := b.st.JobGet(b.ctx, ids[0])
	require.NoError(t, err)
	bj, err := b.st.JobGet(b.ctx, ids[1])
	require.NoError(t, err)
	require.Equal(t, a.OpenJD.Submission, bj.OpenJD.Submission)
	require.Equal(t, []int64{ids[0]}, bj.After)
	require.Equal(t, a.Labels[job.OpenJDLabel], bj.Labels[job.OpenJDLabel])
	require.Equal(t, fmt.Sprint(a.OpenJD.Job), a.Labels[job.OpenJDLabel], "the label names the parent")
	sub, err := b.st.OpenJDGet(b.ctx, a.OpenJD.Submission)
	require.NoError(t, err)
	require.Equal(t, "t", sub.Template)

	ws := b.take()
	require.Len(t, ws, 1)
	require.Equal(t, &dispatch.OpenJDWork{Submission: a.OpenJD.Submission, Step: "A"}, ws[0].OpenJD)
	require.EqualValues(t, 0, ws[0].Position, "index 1 is the first position of the space")

	_, _, err = b.s.SubmitOpenJD(b.ctx, &job.OpenJDJob{Template: "t"}, job.Spec{}, []OpenJDStepSpec{{Spec: job.Spec{OpenJD: &job.OpenJDStep{Step: "A"}}, Deps: []int{0}}})
	require.ErrorContains(t, err, "not an earlier step")
}

// TestOpenJDStay hands a session the next task of its own step in reply to
// an end, before a job of higher priority, and says when it is the last.
func TestOpenJDStay(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	ids := openjdSteps(t, b, 3)
	ws := b.take()
	require.Len(t, ws, 1)
	b.run(t, ws[0])
	urgent := cmdSpec("urgent")
	urgent.Priority = 100
	b.submit(t, urgent)

	code := 0
	end := func(k dispatch.TaskKey, stay bool) *dispatch.Work {
		next, err := b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: k, Worker: "w1", Kind: dispatch.EventEnded, Next: true, Stay: stay,
			End: &dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: &code}})
		require.NoError(t, err)
		return next
	}
	next := end(ws[0].TaskKey, true)
	require.NotNil(t, next)
	require.Equal(t, ids[0], next.Job, "the session's step first")
	require.Equal(t, 2, next.Index)
	require.False(t, next.OpenJD.Last)
	next = end(next.TaskKey, true)
	require.Equal(t, 3, next.Index)
	require.True(t, next.OpenJD.Last, "no other task of the step waits")
	next = end(next.TaskKey, true)
	require.NotNil(t, next)
	require.NotEqual(t, ids[1], next.Job, "the urgent job before the next step")
}

// TestOpenJDFetch gives an OpenJD job's templates only to a worker that
// holds one of its tasks.
func TestOpenJDFetch(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	openjdSteps(t, b, 2)
	ws := b.take()
	require.Len(t, ws, 1)
	sub := ws[0].OpenJD.Submission
	r := b.s.HandleOpenJDFetch(b.ctx, &dispatch.OpenJDFetch{Worker: "w1", Submission: sub})
	require.False(t, r.OK, "w1 holds no task yet")
	b.run(t, ws[0])
	r = b.s.HandleOpenJDFetch(b.ctx, &dispatch.OpenJDFetch{Worker: "w1", Submission: sub})
	require.True(t, r.OK, r.Error)
	require.Equal(t, "t", r.Job.Template)
	r = b.s.HandleOpenJDFetch(b.ctx, &dispatch.OpenJDFetch{Worker: "w2", Submission: sub})
	require.False(t, r.OK, "w2 holds none of its tasks")
	require.Contains(t, r.Error, "holds no task")
}
