package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/berth-run/berth/job"
)

// MaxPayload is the largest message of the embedded NATS server: room for
// the templates of an OpenJD job (job.MaxOpenJDBytes) as JSON, whose
// escapes may double them. An external NATS needs max_payload as large
// for jobs as large.
const MaxPayload = 2*job.MaxOpenJDBytes + 1<<20

// kindOpenJD is the subject a worker asks for an OpenJD job's templates on.
const kindOpenJD = "openjd"

// OpenJDWork says which step of which OpenJD job a task belongs to; a
// worker runs it in a session of that step (docs/openjd.md).
type OpenJDWork struct {
	// Submission names the stored job, fetched with FetchOpenJD once per
	// session: templates may be large, and every task would carry them.
	Submission int64  `json:"submission"`
	Step       string `json:"step"`
	// Last says no other task of the step was waiting to run when this
	// one was granted: the session exits its environments after it,
	// before its end is reported.
	Last bool `json:"last,omitempty"`
}

// OpenJDFetch asks for the templates of an OpenJD job the worker holds a
// task of.
type OpenJDFetch struct {
	Worker     string `json:"worker"`
	Submission int64  `json:"submission"`
}

// OpenJDFetchReply carries them.
type OpenJDFetchReply struct {
	OK    bool           `json:"ok"`
	Error string         `json:"error,omitempty"`
	Job   *job.OpenJDJob `json:"job,omitempty"`
}

// FetchOpenJD returns the stored OpenJD job of a task the worker holds,
// retrying until the server answers or ctx is done.
func (c *Conn) FetchOpenJD(ctx context.Context, submission int64) (*job.OpenJDJob, error) {
	if c.worker == "" {
		return nil, errNoIdentity
	}
	req := &OpenJDFetch{Worker: c.worker, Submission: submission}
	var r OpenJDFetchReply
	err := retry(ctx, func() error {
		r = OpenJDFetchReply{}
		return c.request(ctx, workerSubject(c.worker, kindOpenJD), req, &r)
	})
	if err != nil {
		return nil, fmt.Errorf("fetching OpenJD job %d: %w", submission, noAnswer("the server", err))
	}
	if !r.OK || r.Job == nil {
		return nil, fmt.Errorf("fetching OpenJD job %d: %s", submission, errors.New(r.Error))
	}
	return r.Job, nil
}

// ServeOpenJD answers workers' OpenJDFetch with handler until ctx is done.
// OpenJDFetch.Worker is the sender's identity, taken from the subject.
func (c *Conn) ServeOpenJD(ctx context.Context, handler func(context.Context, *OpenJDFetch) OpenJDFetchReply) (*nats.Subscription, error) {
	return c.serve(ctx, workerSubjects(kindOpenJD), QueueServer, func(m *nats.Msg) {
		var f OpenJDFetch
		if err := json.Unmarshal(m.Data, &f); err != nil {
			c.reply(m, OpenJDFetchReply{Error: "bad request: " + err.Error()})
			return
		}
		if err := c.identify(m, &f.Worker, "openjd fetch"); err != nil {
			c.reply(m, OpenJDFetchReply{Error: err.Error()})
			return
		}
		// Not one at a time: reading templates must not hold up claims.
		go c.reply(m, handler(ctx, &f))
	})
}
