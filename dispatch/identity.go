package dispatch

import (
	"fmt"
	"regexp"
	"strings"
)

// A worker is an identity: a NATS user of its own whose permissions let it
// publish only under berth.w.<worker>.> and read only its own inbox and
// control subject. The server takes the sender of every claim, event,
// heartbeat and output message from the subject it came on, never from the
// message, so a worker can speak only for itself; NATS enforces the rest.
//
//	berth.w.<worker>.claim     Claim → ClaimReply (the Work itself, on grant)
//	berth.w.<worker>.event     Event → EventReply
//	berth.w.<worker>.hb        Heartbeat → HeartbeatReply (the lease)
//	berth.w.<worker>.output    Output → OutputReply
//	_BERTH.<worker>.>          the worker's reply inbox
const (
	SubjectWorkerPrefix = "berth.w."
	InboxPrefixRoot     = "_BERTH."
)

// The kinds of worker subject.
const (
	kindClaim     = "claim"
	kindEvent     = "event"
	kindHeartbeat = "hb"
	kindOutput    = "output"
)

// workerSubject is the subject worker sends kind on.
func workerSubject(worker, kind string) string { return SubjectWorkerPrefix + worker + "." + kind }

// workerSubjects is what the server subscribes to for kind, every worker's.
func workerSubjects(kind string) string { return SubjectWorkerPrefix + "*." + kind }

// subjectWorker returns the worker a message on a worker subject came from.
func subjectWorker(subj string) string {
	rest, ok := strings.CutPrefix(subj, SubjectWorkerPrefix)
	if !ok {
		return ""
	}
	w, _, _ := strings.Cut(rest, ".")
	return w
}

// InboxPrefix is the prefix of a worker's reply subjects.
func InboxPrefix(worker string) string { return InboxPrefixRoot + worker }

var workerIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckWorkerID refuses an ID that cannot be one NATS subject token, and
// so cannot name a worker's subjects and permissions.
func CheckWorkerID(id string) error {
	if !workerIDPattern.MatchString(id) {
		return fmt.Errorf("worker ID %q: want 1 to 64 letters, digits, '-' or '_'", id)
	}
	return nil
}

// SanitizeWorkerID turns s (a host name, say) into a valid worker ID:
// every other character becomes '-'.
func SanitizeWorkerID(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	if len(b) == 0 {
		return "worker"
	}
	return string(b)
}

// Permissions are what a NATS user may publish and subscribe to.
type Permissions struct {
	Publish   []string `json:"publish"`
	Subscribe []string `json:"subscribe"`
	// AllowResponses lets the user answer requests sent to it (controls).
	AllowResponses bool `json:"allow_responses"`
}

// WorkerPermissions are the NATS permissions of worker in pool: exactly its
// own subjects, the pull and acks of its pool's consumer, and its inbox. It
// cannot publish work, use the JetStream API beyond its consumer, nor read
// another worker's traffic. An external NATS must give each worker these
// (`berth workers permissions` prints them in NATS's configuration syntax).
func WorkerPermissions(worker, pool string) Permissions {
	cons := WorkConsumerName(pool)
	return Permissions{
		Publish: []string{
			SubjectWorkerPrefix + worker + ".>",
			"$JS.API.CONSUMER.INFO." + StreamWork + "." + cons,
			"$JS.API.CONSUMER.MSG.NEXT." + StreamWork + "." + cons,
			"$JS.ACK." + StreamWork + "." + cons + ".>",
		},
		Subscribe: []string{
			InboxPrefix(worker) + ".>",
			SubjectControl(worker),
		},
		AllowResponses: true,
	}
}

// NATSConfig renders p as a NATS server configuration block, for an
// authorization users entry.
func (p Permissions) NATSConfig() string {
	q := func(ss []string) string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	s := "permissions: {\n  publish: { allow: " + q(p.Publish) + " }\n  subscribe: { allow: " + q(p.Subscribe) + " }\n"
	if p.AllowResponses {
		s += "  allow_responses: true\n"
	}
	return s + "}"
}
