// Package dispatch carries work from the scheduler to workers and events back,
// over NATS JetStream. It starts the embedded NATS server of `berth serve`,
// declares the streams, and gives both sides typed helpers for the subjects
// listed in messages.go.
package dispatch
