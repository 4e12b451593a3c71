// Package fleet runs a berth fleet of several "hosts" on the Docker engine,
// for tests of what berth promises under faults of hosts, networks and
// processes (e2e/fleet_hosts_test.go).
//
// # What Start builds
//
// Per test, on a private bridge network of its own (containers reach each
// other by name; all is removed when the test ends):
//
//   - n1, n2, n3: a NATS JetStream cluster (the nats-server of go.mod's module
//     graph), each node with its configuration in Creds/<node>.conf: routes
//     to the others, JetStream on the container's disk (kept across Kill and
//     Start), one account whose users are NKeys, pings every second so that
//     a lost peer or client is noticed in seconds.
//   - server: `berth serve --nats nats://n1:4222,nats://n2:4222,nats://n3:4222
//     --nats-nkey /creds/server.nk --nats-replicas 3 --worker none --listen
//     0.0.0.0:8080`, its data directory the host directory Data (it survives
//     Kill and Start), the API published on 127.0.0.1 only (the same port
//     across restarts); Client returns an API client with its token.
//   - w1, w2, w3 (Config.Workers): `berth worker --nats ... --nats-nkey
//     /creds/wN.nk --id wN --slots 4 --state-dir /tmp/state --executor
//     process`, with the host directory Marks at /marks.
//
// Every user has its own NKey (seeds in Creds, mounted read-only at
// /creds). The server's user may do anything; a worker's permissions come
// from Config.WorkerPermissions, by default WorkerPermissions: exactly
// dispatch.WorkerPermissions, as docs/fleet.md tells an operator to set.
//
// The containers run as the test's user, with docker-init as PID 1 and the
// berth or nats-server process its child. Their image (Image) holds busybox
// (as testenv.DockerImage), the static berth of testenv.Berth and
// nats-server; it is imported through the engine, no registry, under a tag
// that hashes the binaries, so an unchanged build reuses it.
//
// # Faults
//
// By container name: Kill (SIGKILL of the whole container, as a host crash)
// and Start (which waits until the node is healthy, the server answers or
// the worker is seen), Disconnect and Connect (a partition), Pause and
// Unpause (the whole container frozen), StopProcess and ContProcess
// (SIGSTOP/SIGCONT of the berth process only: its jobs run on), and
// StreamLeader to find the NATS node worth killing. Exec runs a command in
// a container, Alive checks a process there, Logs returns a container's
// output. When a test fails, every container's log is kept in
// $BERTH_FLEET_LOGS (default: a directory in $TMPDIR, named in the test's
// log).
//
// # Markers
//
// MarkedJob is a job that appends START and END lines (job, task, attempt,
// PID, host uptime, worker) to /marks/JOB.INDEX around a sleep. ReadMarks
// parses them; Check compares them with what the server recorded and
// reports broken promises: two attempts of a task at once (an END after
// another attempt's START), an acknowledged job missing or unended, a job
// Done that did not run to its END or became Done twice, a job that is not
// rerunnable started twice or failed otherwise than LOST.
//
// # Use
//
//	f := fleet.Start(t, fleet.Config{})
//	c := f.Client()
//	j, err := c.Submit(ctx, fleet.MarkedJob("2", "2", true))
//	...
//	f.Kill(f.StreamLeader("BERTH_WORK"))
//	f.Disconnect("w1")
//	...
//	rep, err := fleet.Check(ctx, c, f.Marks, jobs)
//	require.Empty(t, rep.Violations)
//
// Start skips the test without a Docker engine (fails with
// BERTH_REQUIRE_DOCKER=1) and needs the host's static busybox (`make
// deps`). A fleet takes some 7 s to start once the image exists.
package fleet
