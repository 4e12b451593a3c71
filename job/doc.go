// Package job holds the core types every part of berth shares: what to run
// (Template), a submitted job (Job) and its tasks (Task), their DRMAA2 states,
// the information gathered about a run (Info), and the control actions.
//
// It imports nothing else of berth's, so every other package may use it.
//
// # Addressing
//
// A job has a short integer ID assigned by the server. Every job has tasks: a
// plain job has exactly one, with index 0; an array job has one per index of
// its range. A task is addressed as "ID" (the only task of a plain job, or
// every task of an array) or "ID.INDEX" (one task of an array), see Ref.
package job
