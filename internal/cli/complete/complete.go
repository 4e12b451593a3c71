// Package complete adds shell completion to berth's commands: job IDs,
// states, pools and labels, the changing ones asked of the server. The
// scripts come from cobra's `berth completion bash|zsh|fish|powershell`.
//
// Completion never fails loudly: without a server (or a slow one) it offers
// nothing and the shell goes on.
package complete

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
)

// timeout bounds how long a completion waits for the server: a shell
// waiting on Tab must not hang on a server that is starting or away.
const timeout = 2 * time.Second

// maxJobs bounds the job IDs offered, the newest kept.
const maxJobs = 1000

// jobArgs are the commands whose arguments are job IDs.
var jobArgs = []string{"show", "wait", "logs", "receive", "rm", "stop", "kill", "suspend", "resume", "hold", "release"}

// noArgs are the commands that take no arguments: no files offered.
var noArgs = []string{"ls", "workers", "version", "ui", "serve", "worker"}

// Register walks root's commands and adds completion to job ID arguments
// and to the --state, --label, --pool and --after flags.
func Register(root *cobra.Command, f *cmdutil.Factory) {
	c := &completer{f: f}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Parent() == root && slices.Contains(jobArgs, cmd.Name()) && cmd.ValidArgsFunction == nil {
			cmd.ValidArgsFunction = c.jobIDArgs
		}
		if cmd.Parent() == root && slices.Contains(noArgs, cmd.Name()) && cmd.ValidArgsFunction == nil {
			cmd.ValidArgsFunction = cobra.NoFileCompletions
		}
		fs := cmd.Flags()
		if fl := fs.Lookup("state"); fl != nil && fl.Value.Type() == "states" {
			_ = cmd.RegisterFlagCompletionFunc("state", states)
		}
		// A worker's --label describes the worker, not jobs.
		if fs.Lookup("label") != nil && cmd.Name() != "worker" {
			_ = cmd.RegisterFlagCompletionFunc("label", c.labels)
		}
		if fs.Lookup("pool") != nil {
			_ = cmd.RegisterFlagCompletionFunc("pool", c.pools)
		}
		if fs.Lookup("after") != nil {
			_ = cmd.RegisterFlagCompletionFunc("after", c.jobIDList)
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

type completer struct{ f *cmdutil.Factory }

const none = cobra.ShellCompDirectiveNoFileComp

// client returns a client and a context bounded by timeout; nil when
// there is no server to ask.
func (c *completer) client(cmd *cobra.Command) (*client.Client, context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	cl, err := c.f.Client()
	if err != nil {
		cancel()
		return nil, nil, nil
	}
	return cl, ctx, cancel
}

// jobs returns the jobs, oldest first, at most maxJobs of the newest.
func (c *completer) jobs(cmd *cobra.Command) []*job.Job {
	cl, ctx, cancel := c.client(cmd)
	if cl == nil {
		return nil
	}
	defer cancel()
	var jobs []*job.Job
	for j, err := range cl.JobsAll(ctx, client.ListParams{}) {
		if err != nil {
			break // what came so far is still worth offering
		}
		jobs = append(jobs, j)
		if len(jobs) > 2*maxJobs {
			jobs = append(jobs[:0], jobs[len(jobs)-maxJobs:]...)
		}
	}
	if len(jobs) > maxJobs {
		jobs = jobs[len(jobs)-maxJobs:]
	}
	return jobs
}

// jobIDs returns "ID\tname state" for the jobs whose ID starts with
// prefix, except those in skip.
func (c *completer) jobIDs(cmd *cobra.Command, prefix string, skip []string) []string {
	var out []string
	for _, j := range c.jobs(cmd) {
		id := strconv.FormatInt(j.ID, 10)
		if !strings.HasPrefix(id, prefix) || slices.Contains(skip, id) {
			continue
		}
		out = append(out, id+"\t"+strings.TrimSpace(j.Name+" "+string(j.State)))
	}
	return out
}

func (c *completer) jobIDArgs(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if strings.Contains(toComplete, ".") {
		return nil, none // a task index: the shell cannot guess it usefully
	}
	return c.jobIDs(cmd, toComplete, args), none
}

// jobIDList completes the last of comma-separated IDs (--after 3,4).
func (c *completer) jobIDList(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	head, last := splitList(toComplete)
	var out []string
	for _, s := range c.jobIDs(cmd, last, strings.Split(head, ",")) {
		out = append(out, head+s)
	}
	return out, none
}

// states completes the last of comma-separated states (--state done,fa).
// States parse in any case; one begun in lower case goes on in lower case,
// since shells match what they offer against what was typed.
func states(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	head, last := splitList(toComplete)
	lower := last != "" && last == strings.ToLower(last)
	var out []string
	for _, st := range job.States {
		s := string(st)
		if lower {
			s = strings.ToLower(s)
		}
		if strings.HasPrefix(strings.ToLower(s), strings.ToLower(last)) {
			out = append(out, head+s)
		}
	}
	return out, none
}

// splitList splits "a,b,c" into "a,b," and "c".
func splitList(s string) (string, string) {
	i := strings.LastIndexByte(s, ',')
	return s[:i+1], s[i+1:]
}

// labels offers the k=v labels of the jobs.
func (c *completer) labels(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	seen := map[string]bool{}
	for _, j := range c.jobs(cmd) {
		for k, v := range j.Labels {
			if kv := k + "=" + v; strings.HasPrefix(kv, toComplete) {
				seen[kv] = true
			}
		}
	}
	return sorted(seen), none
}

// pools offers the pools of the workers, and the default one.
func (c *completer) pools(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	seen := map[string]bool{}
	if strings.HasPrefix(job.PoolDefault, toComplete) {
		seen[job.PoolDefault] = true
	}
	cl, ctx, cancel := c.client(cmd)
	if cl == nil {
		return sorted(seen), none
	}
	defer cancel()
	ws, _ := cl.Workers(ctx)
	for _, w := range ws {
		if strings.HasPrefix(w.Pool, toComplete) {
			seen[w.Pool] = true
		}
	}
	return sorted(seen), none
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
