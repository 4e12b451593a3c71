// Package daemon assembles berth's long-running processes from the other
// packages: `berth serve` (store, embedded NATS, scheduler, HTTP API and the
// local worker) and `berth worker`.
//
// # The local worker
//
// `berth serve` runs its local worker as a separate process, `berth worker
// --local`, in its own session, rather than inside the server. Jobs are the
// worker's children, so when the server is killed they keep running, and
// their true exit status is reported once the server is back: the worker
// retries its events until they are acknowledged. A clean stop of the
// server (SIGTERM, Ctrl-C) leaves the worker running just the same, unless
// ServeConfig.StopJobsOnExit asks for its jobs to be stopped. A per-job supervisor
// process would give the same guarantee at the price of one more exec per
// job (about 2 ms for a small Go binary, more than the job itself for short
// jobs); one long-lived worker pays it once.
//
// The server hands the worker a lock on worker/lock (an inherited open file:
// flock locks belong to the open file, so the child holds it after the
// server closes its copy). The server then blocks on that lock: getting it
// means the worker has died, and a new one is started. After a restart of
// the server the worker is found the same way: its lock is held.
//
// # Start
//
// The server listens on its socket before the scheduler loads the jobs,
// answering "starting" until it has (server.Config.Ready), so that a client
// meeting a restarting server waits instead of finding none.
//
// # The reaper
//
// Jobs outlive a crash of the local worker too, but only a process's parent
// learns its exit status. So the worker runs under a small process of its
// own, `berth local-reaper` (reaper.go), the child subreaper
// (PR_SET_CHILD_SUBREAPER) of everything below it: the jobs of a worker
// that died become its children. It notes the exit status, CPU time and
// peak memory of each one the worker's journal names (by PID and start
// time) in worker/exits before it reaps it (process.Reap); the
// next worker follows the jobs its predecessor left (on a pidfd) and reports
// each end from its note. While the worker lives the reaper does nothing;
// the worker reaps a job only once the server has recorded its end, so a
// job that ended just before the worker died is noted as well. The reaper
// exits when it has no child left.
//
// A shim rather than the server itself: the server would have to tell the
// orphans it must reap from the worker whose status os/exec waits for, and
// it would miss them whenever it is down or restarted (a server restarted
// after a crash is not the parent of the worker it finds). The reaper does
// nothing but wait, so it outlives crashes of both the server and the
// worker; it costs one process per worker start, nothing per job.
//
// # Local worker crash
//
// A job whose worker was killed ends with its true status, except when:
//
//   - the reaper is killed too (SIGKILL, the OOM killer; `kill` of the
//     worker and the server does not reach it). Orphans then go to init, and
//     the next worker kills those still running and reports them
//     Failed/LOST (rerunnable ones run again). So do jobs of a worker
//     started by hand (`berth worker --local`), which has no reaper;
//   - the reaper hangs for more than 30 s after the job ended (LOST);
//   - the job writes to stdout or stderr after the crash through the pipe
//     the worker drained (an output file not yet created when it started):
//     with no reader left the write fails (SIGPIPE), which is then its true
//     status; output still in the pipe is lost.
//
// The new worker does not know a followed job's template: it enforces no
// time limit on it and does not copy its output to the template's output
// and error paths.
//
// # Identities and the watchdog
//
// The embedded NATS admits the server's own user and one NKey user per
// worker (identity.go): the local worker's key is made at first start,
// the others are enrolled through the API. Each worker process starts a
// watchdog, `berth watchdog` (watchdog.go), which kills the worker's tasks
// if their lease lapses while the worker hangs; the local worker's waits
// while no server holds the data directory's lock, since then nobody can
// run its tasks elsewhere.
package daemon
