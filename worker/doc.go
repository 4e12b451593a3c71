// Package worker runs berth tasks for one pool: it pulls Work from the
// pool's JetStream consumer, claims each task from the server, runs it
// through an executor, and reports its start, suspension and end as events.
//
// A worker holds at most Slots Work messages at once. It keeps each held
// message alive with in-progress acks and acks it only once the server has
// recorded the task's end, so a worker that dies has its work redelivered,
// and the server refuses the stale claim if the attempt already ran. Events
// are sent in order per task and retried until the server records them: the
// server may restart while tasks keep running.
//
// When the worker starts, executors that can follow tasks left by an
// earlier run of the worker (a Recoverable method) get them re-attached,
// and their ends reported with their true exit status; those that can find
// the others (a Cleanup method, as executor/process has) get them reported
// as lost. For that the executor's task ID is the task key,
// "JOB.INDEX.ATTEMPT" (dispatch.TaskKey.String).
//
// The worker holds its tasks under a lease that each answered heartbeat
// renews (lease.go). When it lapses the worker fences itself: it stops
// every task, reports nothing of them and starts nothing until the server
// answers again; Config.Fence hands the lease to a watchdog outside the
// process for when the worker itself hangs. A heartbeat's answer also
// names the attempts the server no longer grants, which are stopped the
// same way, before anything of them is reported.
package worker
