// Package dispatch carries work from the scheduler to workers and events back,
// over NATS JetStream. It starts the embedded NATS server of `berth serve`,
// declares the streams, and gives both sides typed helpers for the subjects
// listed in messages.go.
//
// # Pieces
//
//   - Server: the embedded NATS server (JetStream on a file store). The
//     server's own user may do anything; each worker is an NKey user with
//     exactly its own subjects (WorkerUser, WorkerPermissions, SetWorkers;
//     see identity.go). It can be shut down and started again on the same
//     store and port; clients reconnect on their own.
//   - Connect and Conn: a connection that reconnects forever and buffers
//     what is published meanwhile, so a worker rides out a server restart.
//     A worker's connection carries its identity (ConnectConfig.Worker):
//     it sends on berth.w.<id>.* and takes replies on its own inbox.
//   - EnsureStreams: declares BERTH_WORK (work-queue retention).
//   - Server side: Publisher (PublishWork, PurgeWork, and RepairWork, which
//     makes anew a work stream a write error broke, as a full disk breaks
//     the embedded server's: see Server.WorkStreamErr), Conn.ServeClaims,
//     Conn.ServeEvents (or Conn.ServeEventBatches, which hands over together
//     the events that arrived while the last were handled, so that the
//     server records them in one commit), Conn.ServeHeartbeats (whose
//     answers renew the workers' leases), Conn.Control, EnsureWorkConsumer.
//     Each handler gets the sender's identity from the subject.
//   - Worker side: Conn.WorkSource (the pool's shared durable pull consumer
//     "pool-<pool>", made by the server) with Fetch and Delivery,
//     Conn.Claim (whose reply carries the work), Conn.SendEvent,
//     Conn.Heartbeat, Conn.ServeControl, and for workers that do not
//     share the server's disk Conn.SendOutput (served by Conn.ServeOutput).
//
// # Delivery guarantees
//
// Claims and events are requests; the worker retries them until answered
// (SendEvent until answered OK), so the server may see an event more than
// once and must treat them idempotently, keyed by TaskKey and Kind. The
// server subscribes to both in the queue group QueueServer, so that of
// several server replicas one handles each.
//
// A worker whose task ended and whose slot is free says so in the ended
// event (Event.Next); the server may answer with the pool's next runnable
// task, already claimed for that worker (EventReply.Next). Such work skips
// the stream: a worker running many short tasks pays one request per task
// instead of a publish, a pull, a claim and an ack. A worker that cannot
// start handed-over work gives it back with an EventReleased event.
//
// Work messages carry a JetStream message ID unique per PublishWork call: it
// only drops JetStream's own publish retries, never a re-publication of the
// same attempt after PurgeWork.
package dispatch
