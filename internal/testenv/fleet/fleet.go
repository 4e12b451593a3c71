package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	dockerclient "github.com/moby/moby/client"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/testenv"
)

// Config shapes a fleet. The zero value is three workers of four slots in
// the default pool.
type Config struct {
	// Workers is how many workers run (w1, w2, ...). Defaults to 3.
	Workers int
	// Slots is each worker's --slots. Defaults to 4.
	Slots int
	// Pool is the workers' --pool. Defaults to "default".
	Pool string
	// ServerArgs are added to `berth serve`'s arguments.
	ServerArgs []string
	// WorkerArgs are added to every `berth worker`'s arguments.
	WorkerArgs []string
	// WorkerPermissions gives a worker's NATS user its permissions.
	// Defaults to the package's WorkerPermissions.
	WorkerPermissions func(worker, pool string) Permissions
}

// The containers' names on the fleet's network (their host names too).
var NATSNodes = []string{"n1", "n2", "n3"}

// Server is the name of the berth server's container.
const Server = "server"

// Worker returns the name of the i-th worker (from 1): "w1", "w2", ...
func Worker(i int) string { return "w" + strconv.Itoa(i) }

// label marks everything a fleet creates; its value is the Unix time of
// the fleet's start, so that leftovers of a crashed run can be found.
const label = "berth-test-fleet"

// apiPort is where the server's API listens inside its container.
const apiPort = 8080

// Fleet is a berth fleet on the Docker engine: a NATS JetStream cluster of
// three nodes, the server and the workers, each in its container on a
// private network. Everything is removed when the test ends.
type Fleet struct {
	t      testing.TB
	docker *dockerclient.Client
	image  string
	prefix string // of container and network names, unique per fleet
	net    string // the network's ID
	// Marks is the host directory mounted at /marks in every worker.
	Marks string
	// Data is the server's data directory on the host ($BERTH_HOME in its
	// container, at /data), kept across kills and restarts.
	Data string
	// Creds holds the NKey seeds (<user>.nk) and the NATS configurations,
	// mounted read-only at /creds.
	Creds string

	// Workers are the workers' names, in order.
	Workers []string

	token   string
	apiAddr string // 127.0.0.1:port on the host

	mu  sync.Mutex
	ids map[string]string // name → container ID
}

// Start starts a fleet and waits until the NATS cluster is healthy, the
// server answers and every worker has reported to it. It skips the test
// without Docker (fails with BERTH_REQUIRE_DOCKER=1).
func Start(t testing.TB, cfg Config) *Fleet {
	t.Helper()
	if cfg.Workers <= 0 {
		cfg.Workers = 3
	}
	if cfg.Slots <= 0 {
		cfg.Slots = 4
	}
	if cfg.Pool == "" {
		cfg.Pool = "default"
	}
	if cfg.WorkerPermissions == nil {
		cfg.WorkerPermissions = WorkerPermissions
	}
	begin := time.Now()
	f := &Fleet{
		t: t, docker: testenv.RequireDocker(t), image: Image(t),
		prefix: "berth-fleet-" + randomHex(4),
		Marks:  testenv.ShortTempDir(t), Data: testenv.ShortTempDir(t), Creds: testenv.ShortTempDir(t),
		token: randomHex(32), ids: map[string]string{},
	}
	for i := range cfg.Workers {
		f.Workers = append(f.Workers, Worker(i+1))
	}
	lap := func(what string) {
		t.Logf("fleet: %s at %v", what, time.Since(begin).Round(time.Millisecond))
	}
	lap("image " + f.image + " ready")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.sweep(ctx)
	t.Cleanup(f.remove)

	// Credentials: one NKey user for the server, one per worker.
	users := map[string]natsUser{}
	for _, name := range append([]string{Server}, f.Workers...) {
		pub, err := writeSeed(f.Creds, name)
		if err != nil {
			t.Fatal(err)
		}
		perms := AllowAll
		if name != Server {
			perms = cfg.WorkerPermissions(name, cfg.Pool)
		}
		users[pub] = natsUser{name: name, perms: perms}
	}
	for _, n := range NATSNodes {
		conf, err := natsConfig(n, NATSNodes, users)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.Creds, n+".conf"), conf, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The API token, made before the server's first start, which keeps it.
	if err := os.WriteFile(filepath.Join(f.Data, "token"), []byte(f.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	f.apiAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	res, err := f.docker.NetworkCreate(ctx, f.prefix, dockerclient.NetworkCreateOptions{
		Driver: "bridge", Labels: map[string]string{label: strconv.FormatInt(time.Now().Unix(), 10)}})
	if err != nil {
		t.Fatalf("creating the fleet's network: %v", err)
	}
	f.net = res.ID

	urls := make([]string, len(NATSNodes))
	for i, n := range NATSNodes {
		urls[i] = fmt.Sprintf("nats://%s:%d", n, natsClientPort)
		f.create(ctx, n, []string{natsPath, "-c", "/creds/" + n + ".conf"}, nil)
	}
	for _, n := range NATSNodes {
		f.start(ctx, n)
	}
	f.WaitNATS()
	lap("NATS cluster healthy")

	natsURL := strings.Join(urls, ",")
	f.create(ctx, Server, append([]string{berthPath, "serve", "--log-level", "debug",
		"--nats", natsURL, "--nats-nkey", "/creds/server.nk", "--nats-replicas", "3",
		"--worker", "none", "--listen", fmt.Sprintf("0.0.0.0:%d", apiPort),
		"--slots", strconv.Itoa(cfg.Workers * cfg.Slots)}, cfg.ServerArgs...), []string{"BERTH_HOME=/data"})
	f.StartServer()
	lap("server answering")
	for _, w := range f.Workers {
		f.create(ctx, w, append([]string{berthPath, "worker", "--log-level", "debug",
			"--nats", natsURL, "--nats-nkey", "/creds/" + w + ".nk", "--id", w,
			"--slots", strconv.Itoa(cfg.Slots), "--pool", cfg.Pool, "--state-dir", "/tmp/state", "--executor", "process"},
			cfg.WorkerArgs...), []string{"BERTH_HOME=/tmp/home"})
		f.start(ctx, w)
	}
	f.WaitWorkers(f.Workers...)
	lap("workers seen")
	return f
}

// create creates container name (not started) on the fleet's network, as
// the test's user, with docker-init as PID 1 so that the berth process can
// be signalled from inside.
func (f *Fleet) create(ctx context.Context, name string, cmd, env []string) {
	f.t.Helper()
	init := true
	hc := &container.HostConfig{
		Init:  &init,
		Binds: []string{f.Creds + ":/creds:ro"},
	}
	cc := &container.Config{
		Hostname: name,
		User:     fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()),
		Env:      append([]string{"PATH=/bin"}, env...),
		Cmd:      cmd,
		Labels:   map[string]string{label: strconv.FormatInt(time.Now().Unix(), 10)},
	}
	switch {
	case name == Server:
		hc.Binds = append(hc.Binds, f.Data+":/data")
		port := network.MustParsePort(fmt.Sprintf("%d/tcp", apiPort))
		cc.ExposedPorts = network.PortSet{port: {}}
		_, hostPort, _ := net.SplitHostPort(f.apiAddr)
		hc.PortBindings = network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hostPort}}}
	case slices.Contains(f.Workers, name):
		hc.Binds = append(hc.Binds, f.Marks+":/marks")
	}
	res, err := f.docker.ContainerCreate(ctx, dockerclient.ContainerCreateOptions{
		Name: f.prefix + "-" + name, Image: f.image, Config: cc, HostConfig: hc,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			f.prefix: {Aliases: []string{name}},
		}},
	})
	if err != nil {
		f.t.Fatalf("creating container %s: %v", name, err)
	}
	f.mu.Lock()
	f.ids[name] = res.ID
	f.mu.Unlock()
}

// id returns the container ID of name.
func (f *Fleet) id(name string) string {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.ids[name]
	if !ok {
		f.t.Fatalf("no container %q in the fleet (have %v)", name, slices.Sorted(maps.Keys(f.ids)))
	}
	return id
}

func (f *Fleet) start(ctx context.Context, name string) {
	f.t.Helper()
	if _, err := f.docker.ContainerStart(ctx, f.id(name), dockerclient.ContainerStartOptions{}); err != nil {
		f.t.Fatalf("starting container %s: %v", name, err)
	}
}

// StartServer starts the server's container (again, after Kill) and waits
// until its API answers.
func (f *Fleet) StartServer() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.start(ctx, Server)
	c := f.Client()
	deadline := time.Now().Add(40 * time.Second)
	for {
		hctx, hcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.Health(hctx)
		hcancel()
		if err == nil {
			return
		}
		if !f.Running(Server) {
			f.t.Fatalf("berth serve exited at start:\n%s", f.Logs(Server))
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("berth serve did not answer within 40s: %v\n%s", err, f.Logs(Server))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client returns a client of the server's API, through its port published
// on 127.0.0.1 (the same across the server's restarts).
func (f *Fleet) Client() *client.Client {
	c, err := client.New(f.apiAddr, client.WithToken(f.token))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// WaitNATS waits until every running NATS node reports itself healthy,
// JetStream included (its monitoring endpoint /healthz, asked from inside
// its container).
func (f *Fleet) WaitNATS() {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, n := range NATSNodes {
		if !f.Running(n) {
			continue
		}
		for {
			out, err := f.Exec(n, "wget", "-q", "-O", "-", fmt.Sprintf("http://127.0.0.1:%d/healthz", natsMonitorPort))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				f.t.Fatalf("NATS node %s not healthy within 60s: %v %s\n%s", n, err, out, f.Logs(n))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// WaitWorkers waits until the server lists each of the workers as alive.
func (f *Fleet) WaitWorkers(names ...string) {
	f.t.Helper()
	c := f.Client()
	deadline := time.Now().Add(40 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ws, err := c.Workers(ctx)
		cancel()
		alive := map[string]bool{}
		for _, w := range ws {
			alive[w.Worker] = w.Alive
		}
		missing := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return alive[n] })
		if err == nil && len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("workers %v not seen by the server within 40s (err %v)\n%s", missing, err, f.Logs(Server))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// remove removes the fleet's containers and network, first logging what
// each container logged if the test failed.
func (f *Fleet) remove() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.mu.Lock()
	ids := maps.Clone(f.ids)
	f.mu.Unlock()
	if f.t.Failed() || os.Getenv("BERTH_FLEET_LOGS") != "" {
		f.keepLogs(slices.Sorted(maps.Keys(ids)))
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			// A paused container is not removed, even by force.
			_, _ = f.docker.ContainerUnpause(ctx, id, dockerclient.ContainerUnpauseOptions{})
			_, _ = f.docker.ContainerRemove(ctx, id, dockerclient.ContainerRemoveOptions{Force: true})
		})
	}
	wg.Wait()
	if f.net != "" {
		if _, err := f.docker.NetworkRemove(ctx, f.net, dockerclient.NetworkRemoveOptions{}); err != nil {
			f.t.Logf("removing the fleet's network: %v", err)
		}
	}
}

// keepLogs writes each container's whole log to a directory that outlives
// the test ($BERTH_FLEET_LOGS, else a new one in the temporary directory)
// and logs its tail. With $BERTH_FLEET_LOGS set, logs are kept whether the
// test failed or not.
func (f *Fleet) keepLogs(names []string) {
	dir := os.Getenv("BERTH_FLEET_LOGS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), f.prefix)
	}
	err := os.MkdirAll(dir, 0o700)
	for _, name := range names {
		log := f.Logs(name)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name+".log"), []byte(log), 0o600)
		}
		if f.t.Failed() {
			f.t.Logf("--- container %s (last lines) ---\n%s", name, tail(log, 40))
		}
	}
	if err != nil {
		f.t.Logf("keeping the containers' logs: %v", err)
		return
	}
	f.t.Logf("the containers' logs are in %s", dir)
}

// sweep removes what fleets of crashed test runs left behind: containers
// and networks with the fleet label, over half an hour old.
func (f *Fleet) sweep(ctx context.Context) {
	old := func(labels map[string]string) bool {
		since, err := strconv.ParseInt(labels[label], 10, 64)
		return err == nil && time.Since(time.Unix(since, 0)) > 30*time.Minute
	}
	filter := make(dockerclient.Filters).Add("label", label)
	if cs, err := f.docker.ContainerList(ctx, dockerclient.ContainerListOptions{All: true, Filters: filter}); err == nil {
		for _, c := range cs.Items {
			if old(c.Labels) {
				_, _ = f.docker.ContainerUnpause(ctx, c.ID, dockerclient.ContainerUnpauseOptions{})
				_, _ = f.docker.ContainerRemove(ctx, c.ID, dockerclient.ContainerRemoveOptions{Force: true})
			}
		}
	}
	if ns, err := f.docker.NetworkList(ctx, dockerclient.NetworkListOptions{Filters: filter}); err == nil {
		for _, n := range ns.Items {
			if old(n.Labels) {
				_, _ = f.docker.NetworkRemove(ctx, n.ID, dockerclient.NetworkRemoveOptions{})
			}
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
