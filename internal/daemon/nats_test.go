package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNATSAuthRequired(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		urls  []string
		token string
		ok    bool
	}{
		{[]string{"nats://127.0.0.1:4222"}, "", true},
		{[]string{"nats://localhost:4222", "nats://[::1]:4222"}, "", true},
		{[]string{"nats://10.0.0.5:4222"}, "", false},
		{[]string{"nats://127.0.0.1:4222", "nats://nats.example:4222"}, "", false},
		{[]string{"nats://nats.example:4222"}, "secret", true},
		{[]string{"nats://user:pw@nats.example:4222"}, "", true},
		{[]string{"not a url"}, "", false},
	} {
		err := checkNATSAuth(tc.urls, natsInfo{Token: tc.token})
		if tc.ok {
			require.NoError(t, err, "%v", tc.urls)
		} else {
			require.Error(t, err, "%v", tc.urls)
		}
	}
}

// TestOutputSinkWrite checks that output is placed by offset: a repeated
// chunk is not written twice, a chunk past the end is refused with the
// size, and an overlapping one adds only what is new.
func TestOutputSinkWrite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jobs", "1", "1.stdout")
	var o outputSink
	for _, step := range []struct {
		off  int64
		data string
		size int64
	}{
		{0, "hello ", 6},
		{0, "hello ", 6},      // a resend after a lost reply
		{20, "later", 6},      // a gap: refused, continue from 6
		{3, "lo world\n", 12}, // overlapping: only "world\n" is new
		{12, "", 12},          // nothing
		{12, "bye\n", 16},
	} {
		size, err := o.write(path, step.off, []byte(step.data))
		require.NoError(t, err)
		require.Equal(t, step.size, size, "write %q at %d", step.data, step.off)
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "hello world\nbye\n", string(b))
}

func TestNATSReplicasChecked(t *testing.T) {
	t.Parallel()
	base := ServeConfig{DataDir: "/nonexistent", WorkerCommand: []string{"true"}}
	cfg, err := base.withDefaults()
	require.NoError(t, err)
	require.Equal(t, 1, cfg.NATSReplicas)

	ext := base
	ext.NATSURLs = []string{"nats://n1:4222", "nats://n2:4222", "nats://n3:4222"}
	ext.NATSReplicas = 3
	_, err = ext.withDefaults()
	require.NoError(t, err)
	ext.NATSReplicas = 6
	_, err = ext.withDefaults()
	require.ErrorContains(t, err, "replicas must be 1 to 5")

	embedded := base
	embedded.NATSReplicas = 3
	_, err = embedded.withDefaults()
	require.ErrorContains(t, err, "external NATS cluster")
}
