// Package e2e tests berth end to end: a real `berth serve` (SQLite on disk,
// embedded NATS, the local worker process) driven through the berth CLI,
// with real processes, including kill -9 of the server mid-run; and a fleet
// of containers (internal/testenv/fleet) for faults of hosts and networks.
package e2e
