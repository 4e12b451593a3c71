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
// retries its events until they are acknowledged. A per-job supervisor
// process would give the same guarantee at the price of one more exec per
// job (about 2 ms for a small Go binary, more than the job itself for short
// jobs); one long-lived worker pays it once.
//
// The server hands the worker a lock on worker/lock (an inherited open file:
// flock locks belong to the open file, so the child holds it after the
// server closes its copy). The server then blocks on that lock: getting it
// means the worker has died, and a new one is started. After a restart of
// the server the worker is found the same way: its lock is held.
package daemon
