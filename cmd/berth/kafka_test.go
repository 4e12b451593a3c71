package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func kafkaFlags(t *testing.T, args ...string) *kafkaWorkerOptions {
	t.Helper()
	fl := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	o := addKafkaWorkerFlags(fl)
	require.NoError(t, fl.Parse(args))
	return o
}

// TestKafkaWorkerConfig: the environment variables of dotnet-scripts-worker
// apply, and flags win over them.
func TestKafkaWorkerConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sandboxes.yaml")
	require.NoError(t, os.WriteFile(file, []byte("sandboxes:\n  cs:\n    image: img\n    outputLimit: 2KiB\n"), 0o600))
	t.Setenv(envKafkaBrokers, "k1:9092, k2:9092")
	t.Setenv(envJobFilesDir, "/srv/jobs")
	t.Setenv(envResourceLimits, "false")
	t.Setenv(envDockerHost, "tcp://docker:2375")

	o := kafkaFlags(t, "--sandbox-config", file)
	require.True(t, o.enabled())
	cfg, err := o.kafkaConfig("/home/berth")
	require.NoError(t, err)
	require.Equal(t, []string{"k1:9092", "k2:9092"}, cfg.Brokers)
	require.Equal(t, "cs", cfg.Sandbox.Name)
	require.Equal(t, int64(2048), cfg.Sandbox.OutputLimit)
	require.Equal(t, "/srv/jobs", cfg.JobFilesDir)
	require.True(t, cfg.NoResourceLimits)
	require.Equal(t, "tcp://docker:2375", cfg.DockerHost)
	require.Equal(t, "/home/berth/kafka/cs", cfg.StateDir)
	require.Equal(t, 30*time.Second, cfg.DrainTimeout)
	require.Equal(t, 30*time.Second, cfg.CapacityTimeout)

	o = kafkaFlags(t, "--kafka", "k3:9092", "--sandbox", "cs", "--sandbox-config", file, "--job-files-dir", "/j",
		"--resource-limits=true", "--docker-host", "unix:///d.sock", "--state-dir", "/s", "--output-limit", "1m",
		"--drain-timeout", "5s", "--max-message-bytes", "500000", "--capacity-timeout", "2m")
	cfg, err = o.kafkaConfig("/home/berth")
	require.NoError(t, err)
	require.Equal(t, []string{"k3:9092"}, cfg.Brokers)
	require.Equal(t, "/j", cfg.JobFilesDir)
	require.False(t, cfg.NoResourceLimits)
	require.Equal(t, "unix:///d.sock", cfg.DockerHost)
	require.Equal(t, "/s", cfg.StateDir)
	require.Equal(t, int64(1<<20), cfg.Sandbox.OutputLimit)
	require.Equal(t, 5*time.Second, cfg.DrainTimeout)
	require.Equal(t, 500000, cfg.MaxMessageBytes)
	require.Equal(t, 2*time.Minute, cfg.CapacityTimeout)
	_, err = kafkaFlags(t, "--sandbox-config", file, "--capacity-timeout", "0s").kafkaConfig("/h")
	require.ErrorContains(t, err, "--capacity-timeout")

	t.Setenv(envResourceLimits, "maybe")
	_, err = kafkaFlags(t, "--sandbox-config", file).kafkaConfig("/h")
	require.ErrorContains(t, err, envResourceLimits)
	t.Setenv(envResourceLimits, "")
	os.Unsetenv(envResourceLimits)
	t.Setenv(envKafkaBrokers, "")
	_, err = kafkaFlags(t, "--sandbox-config", file).kafkaConfig("/h")
	require.ErrorContains(t, err, "needs brokers")
	_, err = kafkaFlags(t, "--kafka", "k:1").kafkaConfig("/h")
	require.ErrorContains(t, err, "--sandbox-config")
	_, err = kafkaFlags(t, "--kafka", "k:1", "--sandbox-config", file, "--sandbox", "nope").kafkaConfig("/h")
	require.ErrorContains(t, err, `no sandbox "nope"`)
	require.False(t, kafkaFlags(t).enabled(), "plain berth worker is not a Kafka worker")
}
