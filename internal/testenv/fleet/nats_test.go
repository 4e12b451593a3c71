package fleet

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

// TestNATSConfig checks that nats-server reads the configuration the fleet
// writes, users' permissions included.
func TestNATSConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := writeSeed(dir, "server")
	require.NoError(t, err)
	w1, err := writeSeed(dir, "w1")
	require.NoError(t, err)
	users := map[string]natsUser{
		srv: {name: "server", perms: AllowAll},
		w1:  {name: "w1", perms: Permissions{Publish: []string{"berth.event", "$JS.API.CONSUMER.MSG.NEXT.BERTH_WORK.pool-default"}, Subscribe: []string{"_INBOX.>"}}},
	}
	conf, err := natsConfig("n2", NATSNodes, users)
	require.NoError(t, err)
	path := filepath.Join(dir, "n2.conf")
	require.NoError(t, os.WriteFile(path, conf, 0o600))

	opts, err := server.ProcessConfigFile(path)
	require.NoError(t, err)
	require.Equal(t, "n2", opts.ServerName)
	require.True(t, opts.JetStream)
	require.Equal(t, "berth", opts.Cluster.Name)
	require.Len(t, opts.Routes, 3)
	require.Len(t, opts.Nkeys, 2)
	for _, u := range opts.Nkeys {
		require.Equal(t, "BERTH", u.Account.Name)
		if u.Nkey == srv {
			require.Nil(t, u.Permissions, "the server may do anything")
			continue
		}
		require.Equal(t, w1, u.Nkey)
		require.Equal(t, users[w1].perms.Publish, u.Permissions.Publish.Allow)
		require.Equal(t, users[w1].perms.Subscribe, u.Permissions.Subscribe.Allow)
	}
	seed, err := os.ReadFile(filepath.Join(dir, "w1.nk"))
	require.NoError(t, err)
	require.Regexp(t, "^SU[A-Z0-9]+\n$", string(seed))
}
