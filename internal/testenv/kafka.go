package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// KafkaBroker starts an in-process Kafka cluster of one broker (franz-go's
// kfake, speaking Kafka's wire protocol) on a free loopback port for the
// test, and returns its address. Topics are created on first use with one
// partition; opts come after these defaults, so kfake.SeedTopics(n, ...)
// makes topics with more. The cluster closes when the test ends.
func KafkaBroker(t testing.TB, opts ...kfake.Opt) string {
	t.Helper()
	all := append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(1),
	}, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		t.Fatalf("starting the fake Kafka cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// Kcat returns the path of kcat (Debian's kafkacat), a Kafka client
// independent of berth's. If it is missing the test is skipped, unless
// $BERTH_REQUIRE_DOCKER=1, when it fails (`make deps` installs it).
func Kcat(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		msg := "kcat is not installed (run `make deps`, which installs it)"
		if os.Getenv("BERTH_REQUIRE_DOCKER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// KcatProduce produces one message per value to topic with kcat, each with
// the given key (none if empty). Values must not hold newlines.
func KcatProduce(t testing.TB, broker, topic, key string, values ...string) {
	t.Helper()
	KcatProduceTo(t, broker, topic, -1, key, values...)
}

// KcatProduceTo is KcatProduce to one partition (-1: the one kcat's
// partitioner picks by the key).
func KcatProduceTo(t testing.TB, broker, topic string, partition int32, key string, values ...string) {
	t.Helper()
	args := []string{"-P", "-b", broker, "-t", topic}
	if partition >= 0 {
		args = append(args, "-p", strconv.Itoa(int(partition)))
	}
	if key != "" {
		args = append(args, "-k", key)
	}
	cmd := exec.Command(Kcat(t), args...)
	cmd.Stdin = strings.NewReader(strings.Join(values, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// KafkaMessage is a message kcat consumed.
type KafkaMessage struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	Value     string `json:"payload"`
}

// KcatConsumer follows a topic from its beginning with kcat. Next and For
// take messages from what it has read, each message once.
type KcatConsumer struct {
	t      testing.TB
	exited chan struct{}

	mu       sync.Mutex
	msgs     []KafkaMessage
	taken    []bool
	arrived  chan struct{} // closed and replaced when a message comes
	finished bool          // kcat has exited
}

// KcatConsume starts kcat consuming topic from the beginning, until the
// test ends. The topic must exist (kcat gives up on a missing one): seed it
// with kfake.SeedTopics.
func KcatConsume(t testing.TB, broker, topic string) *KcatConsumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, Kcat(t), "-C", "-b", broker, "-t", topic, "-o", "beginning", "-J", "-u", "-q")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("kcat: %v", err)
	}
	c := &KcatConsumer{t: t, exited: make(chan struct{}), arrived: make(chan struct{})}
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var m KafkaMessage
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				continue // a notice, not a message
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.taken = append(c.taken, false)
			close(c.arrived)
			c.arrived = make(chan struct{})
			c.mu.Unlock()
		}
		io.Copy(io.Discard, out)
		c.mu.Lock()
		c.finished = true
		close(c.arrived)
		c.arrived = make(chan struct{})
		c.mu.Unlock()
	}()
	t.Cleanup(func() {
		cancel()
		<-c.exited
		cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("kcat -C %s stderr:\n%s", topic, stderr.String())
		}
	})
	return c
}

// take returns the first message not taken yet that match accepts,
// waiting up to timeout for one to come.
func (c *KcatConsumer) take(match func(KafkaMessage) bool, timeout time.Duration) (KafkaMessage, bool) {
	timer := time.NewTimer(max(timeout, 0))
	defer timer.Stop()
	for {
		c.mu.Lock()
		for i, m := range c.msgs {
			if !c.taken[i] && match(m) {
				c.taken[i] = true
				c.mu.Unlock()
				return m, true
			}
		}
		arrived, finished := c.arrived, c.finished
		c.mu.Unlock()
		if finished {
			return KafkaMessage{}, false
		}
		select {
		case <-arrived:
		case <-timer.C:
			return KafkaMessage{}, false
		}
	}
}

// state says whether kcat still runs.
func (c *KcatConsumer) state() string {
	select {
	case <-c.exited:
		return "kcat has exited"
	default:
		return "kcat runs"
	}
}

// Next returns the first message not taken yet, failing the test if none
// comes within timeout.
func (c *KcatConsumer) Next(timeout time.Duration) KafkaMessage {
	c.t.Helper()
	m, ok := c.NextOrNone(timeout)
	if !ok {
		c.t.Fatalf("no Kafka message within %s (%s)", timeout, c.state())
	}
	return m
}

// NextOrNone returns the first message not taken yet, or false if none
// comes within timeout.
func (c *KcatConsumer) NextOrNone(timeout time.Duration) (KafkaMessage, bool) {
	return c.take(func(KafkaMessage) bool { return true }, timeout)
}

// For returns the first message not taken yet whose key is key, failing
// the test if none comes within timeout. Messages of other keys stay for
// Next and For.
func (c *KcatConsumer) For(key string, timeout time.Duration) KafkaMessage {
	c.t.Helper()
	m, ok := c.take(func(m KafkaMessage) bool { return m.Key == key }, timeout)
	if !ok {
		c.t.Fatalf("no Kafka message with key %q within %s (%s)", key, timeout, c.state())
	}
	return m
}

// All returns every message read so far, taken or not.
func (c *KcatConsumer) All() []KafkaMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]KafkaMessage(nil), c.msgs...)
}
