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

	// The original's docker-java form of the socket.
	t.Setenv(envDockerHost, "unix:/var/run/docker.sock")
	cfg, err = kafkaFlags(t, "--sandbox-config", file).kafkaConfig("/h")
	require.NoError(t, err)
	require.Equal(t, "unix:/var/run/docker.sock", cfg.DockerHost)
	t.Setenv(envDockerHost, "docker.sock")
	_, err = kafkaFlags(t, "--sandbox-config", file).kafkaConfig("/h")
	require.ErrorContains(t, err, envDockerHost+`: docker host "docker.sock"`)
	t.Setenv(envDockerHost, "tcp://docker:2376")
	t.Setenv(envDockerCertPath, "/certs")
	cfg, err = kafkaFlags(t, "--sandbox-config", file).kafkaConfig("/h")
	require.NoError(t, err)
	require.Equal(t, "/certs", cfg.DockerCertPath)

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

// TestKafkaWorkerEnv: the original's WORKER_* variables berth cannot honour
// stop the worker with a message naming each; other WORKER_* variables are
// warned about, never silently ignored.
func TestKafkaWorkerEnv(t *testing.T) {
	warnings, err := checkWorkerEnv([]string{"PATH=/bin", envKafkaBrokers + "=k:1", envDockerHost + "=unix:/d.sock",
		envDockerCertPath + "=/c", envJobFilesDir + "=/j", envResourceLimits + "=false"})
	require.NoError(t, err)
	require.Empty(t, warnings)

	warnings, err = checkWorkerEnv([]string{"WORKER_REGISTRY_USER=me", "WORKER_REGISTRY_PASSWORD=secret",
		"WORKER_SANDBOX_MAXCONTAINERS=8", "WORKER_KAFKA_BROKERURL=k:1", "WORKER_ID=7"})
	require.Error(t, err)
	for _, name := range []string{"WORKER_REGISTRY_USER", "WORKER_REGISTRY_PASSWORD", "WORKER_SANDBOX_MAXCONTAINERS", "WORKER_KAFKA_BROKERURL"} {
		require.ErrorContains(t, err, name+": ")
	}
	require.NotContains(t, err.Error(), "secret", "values stay out of messages")
	require.ErrorContains(t, err, "does not log in to registries")
	require.Equal(t, []string{"WORKER_ID: not a variable berth or dotnet-scripts-worker reads; ignored"}, warnings)

	file := filepath.Join(t.TempDir(), "sandboxes.yaml")
	require.NoError(t, os.WriteFile(file, []byte("sandboxes:\n  cs:\n    image: img\n"), 0o600))
	t.Setenv("WORKER_REGISTRY_EMAIL", "user@mail.com")
	_, err = kafkaFlags(t, "--kafka", "k:1", "--sandbox-config", file).kafkaConfig("/h")
	require.ErrorContains(t, err, "WORKER_REGISTRY_EMAIL: berth does not log in to registries")
}
