package kafka

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/executor/docker"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const testSandbox = "test"

// testConfig is a sandbox on the test image whose script is a shell
// script; extra lines (indented for the sandbox) are added.
func testConfig(image string, extra ...string) string {
	settings := []string{
		"image: " + image,
		"scriptFile: main.sh",
		"command: sh /tmp/script/main.sh",
		"timeLimit: 30s",
		"pull: never",
	}
	for _, l := range extra {
		key, _, _ := strings.Cut(l, ":")
		settings = slices.DeleteFunc(settings, func(s string) bool { return strings.HasPrefix(s, key+":") })
		settings = append(settings, l)
	}
	return "sandboxes:\n  " + testSandbox + ":\n    " + strings.Join(settings, "\n    ") + "\n"
}

// testBundle is a fake Kafka cluster with the worker's topics, kcat
// following running and finished, and the config of a worker on it.
type testBundle struct {
	broker   string
	cfg      Config
	running  *testenv.KcatConsumer
	finished *testenv.KcatConsumer
	docker   *client.Client
	log      *testLog
}

// setup makes a test bundle; partitions is the pending topic's.
func setup(t *testing.T, partitions int32, extra ...string) *testBundle {
	t.Helper()
	testenv.Kcat(t)
	image := testenv.DockerImage(t)
	tb := &testBundle{docker: testenv.RequireDocker(t), log: newTestLog(t)}
	tb.broker = testenv.KafkaBroker(t,
		kfake.SeedTopics(partitions, PendingTopic(testSandbox)),
		kfake.SeedTopics(1, TopicRunning, TopicFinished))
	sb, err := ParseSandbox([]byte(testConfig(image, extra...)), testSandbox)
	require.NoError(t, err)
	tb.cfg = Config{
		Brokers:        []string{tb.broker},
		Sandbox:        sb,
		StateDir:       t.TempDir(),
		SessionTimeout: 6 * time.Second, // kfake's least
		Logger:         tb.log.logger,
	}
	tb.running = testenv.KcatConsume(t, tb.broker, TopicRunning)
	tb.finished = testenv.KcatConsume(t, tb.broker, TopicFinished)
	return tb
}

// start runs a worker of cfg until the test ends, or until the returned
// stop is called; stop returns Run's error.
func (tb *testBundle) start(t *testing.T, cfg Config) (w *Worker, stop func() error) {
	t.Helper()
	w, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(time.Minute):
				runErr = fmt.Errorf("the worker did not stop")
			}
			// Leave no container behind, whatever happened.
			if w.instance != "" {
				removeContainers(t, tb.docker, w.instance)
			}
		})
		return runErr
	}
	t.Cleanup(func() { require.NoError(t, stop()) })
	return w, stop
}

// produce sends one pending message with kcat, keyed by the jobId.
func (tb *testBundle) produce(t *testing.T, jobID string, value any) {
	t.Helper()
	v, ok := value.(string)
	if !ok {
		b, err := json.Marshal(value)
		require.NoError(t, err)
		v = string(b)
	}
	testenv.KcatProduce(t, tb.broker, PendingTopic(testSandbox), jobID, v)
}

// pendingJob is a pending message's value.
func pendingJob(id, script string) map[string]any {
	return map[string]any{"jobId": id, "script": script}
}

// finishedFor waits for the finished message of jobID and decodes it,
// checking its exact shape.
func (tb *testBundle) finishedFor(t *testing.T, jobID string, timeout time.Duration) *Finished {
	t.Helper()
	m := tb.finished.For(jobID, timeout)
	return decodeFinished(t, m.Value)
}

func decodeFinished(t *testing.T, v string) *Finished {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	var f Finished
	require.NoError(t, dec.Decode(&f), v)
	return &f
}

func newJobID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// committed returns the group's committed offset of a partition of the
// pending topic (-1 if none), asked of the broker.
func (tb *testBundle) committed(t *testing.T, partition int32) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.broker))
	require.NoError(t, err)
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = Group(testSandbox)
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = PendingTopic(testSandbox)
	rt.Partitions = []int32{partition}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if p.Partition == partition {
				return p.Offset
			}
		}
	}
	return -1
}

// endOffset returns the end offset (the next offset to be written) of a
// partition of the pending topic.
func (tb *testBundle) endOffset(t *testing.T, partition int32) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.broker))
	require.NoError(t, err)
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = PendingTopic(testSandbox)
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = -1 // the latest
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Len(t, resp.Topics, 1)
	require.Len(t, resp.Topics[0].Partitions, 1)
	return resp.Topics[0].Partitions[0].Offset
}

// containers lists the containers of a worker instance.
func containers(t *testing.T, c *client.Client, instance string) []string {
	t.Helper()
	f := make(client.Filters).Add("label", docker.LabelExecutor+"="+instance)
	res, err := c.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
	require.NoError(t, err)
	var ids []string
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	return ids
}

func removeContainers(t *testing.T, c *client.Client, instance string) {
	for _, id := range containers(t, c, instance) {
		c.ContainerRemove(context.Background(), id, client.ContainerRemoveOptions{Force: true})
	}
}

// instanceOf returns the worker instance name of a state directory,
// waiting for the worker to write it.
func instanceOf(t *testing.T, stateDir string) string {
	t.Helper()
	var b []byte
	require.Eventually(t, func() bool {
		var err error
		b, err = os.ReadFile(filepath.Join(stateDir, "instance"))
		return err == nil && len(bytes.TrimSpace(b)) > 0
	}, 20*time.Second, 20*time.Millisecond)
	return "kafka-" + testSandbox + "-" + string(bytes.TrimSpace(b))
}

// testLog keeps the worker's log and prints it if the test fails.
type testLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	logger *slog.Logger
}

func newTestLog(t *testing.T) *testLog {
	l := &testLog{}
	l.logger = slog.New(slog.NewTextHandler(lockedWriter{l}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			t.Logf("worker log:\n%s", l.buf.String())
			l.mu.Unlock()
		}
	})
	return l
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type lockedWriter struct{ l *testLog }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.buf.Write(p)
}
