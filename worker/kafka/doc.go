// Package kafka is berth's Kafka bridge: a worker that takes the place of
// dotnet-scripts-worker behind a Kafka-driven script scheduler. It consumes
// the topic pending-<sandbox> in the consumer group workers.<sandbox>, runs
// each job's script in a container of the sandbox's image through the
// docker executor (executor/docker), and answers on the topics running
// (the container started) and finished (how the script ended, with its
// stdout and stderr), each message keyed by the jobId. docs/kafka.md
// describes the config file, the messages and the guarantees.
//
// It is stronger than the worker it replaces:
//
//   - At least once. Offsets are committed only after the job's finished
//     message has been acknowledged by the broker, in offset order per
//     partition (offsets.go): with up to MaxConcurrent jobs at once, an
//     offset is committed once every earlier record of its partition is
//     done. A worker that dies mid-job leaves the job uncommitted; it is
//     delivered again, to the restarted worker or another one.
//   - A job answered once is answered again, not run again: the finished
//     message of every job is kept in the state directory (state.go) for
//     the dedup window, and a redelivery of the job gets it again. A
//     redelivery that comes while the job runs joins that run, and gets
//     the same answer when it ends.
//   - Bounded output: each stream is capped (Sandbox.OutputLimit), and the
//     finished message is cut to fit Config.MaxMessageBytes.
//   - Containers and job directories carry the worker's instance name
//     (kafka-<sandbox>-<id>, the id kept in the state directory): a
//     restarted worker removes what its predecessor left before it
//     consumes.
//   - Malformed messages (not a JSON object, no jobId) are logged and
//     skipped, and their offsets committed; a message without a script, or
//     whose jobId is not a UUID, is answered REJECTED. Answers are keyed
//     by the jobId as the original writes it: a lower-case UUID.
//   - Bounded waits: a job that finds every container slot taken waits
//     for one up to Config.CapacityTimeout, then is answered REJECTED, as
//     the original does after 30 s.
//   - Graceful stop: fetching stops, running scripts get a drain timeout
//     to finish, the rest are stopped and left uncommitted.
//
// The package is the Kafka transport of berth's worker layer
// (ARCHITECTURE.md); it shares the executor with the NATS worker, not its
// job model, because the jobs it runs are the scheduler's and never enter
// berth's store.
package kafka
