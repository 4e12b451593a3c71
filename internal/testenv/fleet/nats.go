package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"

	"github.com/berth-run/berth/dispatch"
)

// Permissions are the subjects a NATS user may publish and subscribe to.
// An empty list allows every subject.
type Permissions = dispatch.Permissions

// AllowAll is the server's permissions.
var AllowAll = Permissions{}

// WorkerPermissions are a worker's NATS permissions, as an operator of an
// external NATS gives them: exactly dispatch.WorkerPermissions
// (Config.WorkerPermissions overrides it per fleet).
func WorkerPermissions(worker, pool string) Permissions {
	return dispatch.WorkerPermissions(worker, pool)
}

// natsUser is one NKey user of the cluster's account.
type natsUser struct {
	name  string // "server" or the worker ID; its seed is in /creds/<name>.nk
	perms Permissions
}

// writeSeed makes an NKey user and writes its seed to dir/<name>.nk,
// returning its public key.
func writeSeed(dir, name string) (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	seed, err := kp.Seed()
	if err != nil {
		return "", err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".nk"), append(seed, '\n'), 0o600); err != nil {
		return "", err
	}
	return pub, nil
}

// The NATS cluster's ports, inside the private network.
const (
	natsClientPort  = 4222
	natsClusterPort = 6222
	natsMonitorPort = 8222
)

// natsConfig is node's configuration file (NATS reads JSON): JetStream on
// the container's disk, routes to every node, one account with JetStream
// holding the users (NKeys, keyed by their public keys), and short pings so
// that a lost peer or client is noticed in seconds, not minutes.
func natsConfig(node string, nodes []string, users map[string]natsUser) ([]byte, error) {
	routes := make([]string, len(nodes))
	for i, n := range nodes {
		routes[i] = fmt.Sprintf("nats://%s:%d", n, natsClusterPort)
	}
	var list []map[string]any
	for pub, u := range users {
		entry := map[string]any{"nkey": pub}
		perms := map[string]any{}
		if len(u.perms.Publish) > 0 {
			perms["publish"] = map[string]any{"allow": u.perms.Publish}
		}
		if len(u.perms.Subscribe) > 0 {
			perms["subscribe"] = map[string]any{"allow": u.perms.Subscribe}
		}
		if u.perms.AllowResponses {
			perms["allow_responses"] = true
		}
		if len(perms) > 0 {
			entry["permissions"] = perms
		}
		list = append(list, entry)
	}
	conf := map[string]any{
		"server_name":   node,
		"listen":        fmt.Sprintf("0.0.0.0:%d", natsClientPort),
		"http_port":     natsMonitorPort,
		"ping_interval": "1s",
		"ping_max":      3,
		"jetstream":     map[string]any{"store_dir": "/tmp/js"},
		"cluster": map[string]any{
			"name":   "berth",
			"listen": fmt.Sprintf("0.0.0.0:%d", natsClusterPort),
			"routes": routes,
		},
		"accounts": map[string]any{
			"BERTH": map[string]any{"jetstream": "enabled", "users": list},
		},
	}
	// Not HTML-escaped: NATS reads no \u escapes, and wildcards have '>'.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(conf); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
