package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/network"
	dockerclient "github.com/moby/moby/client"
)

// The faults a test injects, by container name (n1, server, w2, ...). Each
// fails the test if the engine refuses it.

// Kill kills the container with SIGKILL: every process in it dies at once,
// as on a crash of its host. Its disk (the NATS store, a worker's state
// directory) is kept for Start.
func (f *Fleet) Kill(name string) {
	f.t.Helper()
	f.do("killing "+name, func(ctx context.Context) error {
		_, err := f.docker.ContainerKill(ctx, f.id(name), dockerclient.ContainerKillOptions{Signal: "KILL"})
		if err != nil {
			return err
		}
		// The engine answers before the container is gone.
		res := f.docker.ContainerWait(ctx, f.id(name), dockerclient.ContainerWaitOptions{Condition: "not-running"})
		select {
		case err := <-res.Error:
			return err
		case <-res.Result:
			return nil
		}
	})
}

// Start starts a killed container again; for the server, as StartServer,
// it waits until the API answers, for a NATS node until the cluster is
// healthy, for a worker until the server sees it.
func (f *Fleet) Start(name string) {
	f.t.Helper()
	if name == Server {
		f.StartServer()
		return
	}
	f.do("starting "+name, func(ctx context.Context) error {
		_, err := f.docker.ContainerStart(ctx, f.id(name), dockerclient.ContainerStartOptions{})
		return err
	})
	if slices.Contains(NATSNodes, name) {
		f.WaitNATS()
	} else {
		f.WaitWorkers(name)
	}
}

// Disconnect cuts the container off the fleet's network (a partition):
// its connections stop getting answers, it reaches no one.
func (f *Fleet) Disconnect(name string) {
	f.t.Helper()
	f.do("disconnecting "+name, func(ctx context.Context) error {
		_, err := f.docker.NetworkDisconnect(ctx, f.net, dockerclient.NetworkDisconnectOptions{Container: f.id(name), Force: true})
		return err
	})
}

// Connect puts a Disconnected container back on the network, under its
// name.
func (f *Fleet) Connect(name string) {
	f.t.Helper()
	f.do("connecting "+name, func(ctx context.Context) error {
		_, err := f.docker.NetworkConnect(ctx, f.net, dockerclient.NetworkConnectOptions{Container: f.id(name),
			EndpointConfig: &network.EndpointSettings{Aliases: []string{name}}})
		return err
	})
}

// Pause freezes every process of the container (the cgroup freezer), as a
// whole host frozen would be; Unpause thaws them.
func (f *Fleet) Pause(name string) {
	f.t.Helper()
	f.do("pausing "+name, func(ctx context.Context) error {
		_, err := f.docker.ContainerPause(ctx, f.id(name), dockerclient.ContainerPauseOptions{})
		return err
	})
}

// Unpause thaws a Paused container.
func (f *Fleet) Unpause(name string) {
	f.t.Helper()
	f.do("unpausing "+name, func(ctx context.Context) error {
		_, err := f.docker.ContainerUnpause(ctx, f.id(name), dockerclient.ContainerUnpauseOptions{})
		return err
	})
}

// StopProcess sends SIGSTOP to the container's main berth process (the
// server or the worker, not a helper process it may start) and nothing
// else: its jobs run on, as with a hung process.
func (f *Fleet) StopProcess(name string) { f.signalBerth(name, "STOP") }

// ContProcess sends SIGCONT to the container's main berth process.
func (f *Fleet) ContProcess(name string) { f.signalBerth(name, "CONT") }

// mainBerth prints the PID of the berth process whose parent is PID 1
// (docker-init): the container's command. busybox has no pgrep.
const mainBerth = `awk '$4 == 1 && $2 == "(berth)" {print $1}' /proc/[0-9]*/stat`

func (f *Fleet) signalBerth(name, sig string) {
	f.t.Helper()
	// The state it then shows: T (stopped) or not.
	script := `pid=$(` + mainBerth + `) && [ -n "$pid" ] && kill -s "$1" $pid || exit 1
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if grep -q '^State:.*T (stopped)' /proc/$pid/status; then s=T; else s=R; fi
		[ "$s" = "$2" ] && exit 0
		sleep 0.1
	done
	echo "berth (pid $pid) is in state $s"; exit 1`
	want := "R"
	if sig == "STOP" {
		want = "T"
	}
	if out, err := f.Exec(name, "sh", "-c", script, "sh", sig, want); err != nil {
		f.t.Fatalf("sending SIG%s to berth in %s: %v %s", sig, name, err, out)
	}
}

// Alive reports whether process pid (as the container sees it, e.g. a
// marker's PID) lives in the container. When it cannot tell (the container
// is paused, say) it says yes. It may be called from any goroutine.
func (f *Fleet) Alive(name string, pid int) bool {
	out, err := f.Exec(name, "sh", "-c", `[ -d /proc/$1 ] && ! grep -q '^State:.*zombie' /proc/$1/status && echo alive; true`, "sh", strconv.Itoa(pid))
	if err != nil {
		f.t.Logf("checking process %d in %s: %v %s", pid, name, err, out)
		return true
	}
	return strings.TrimSpace(out) == "alive"
}

// Exec runs argv in the running container and returns what it printed
// (stdout and stderr); an exit status other than 0 is an error.
func (f *Fleet) Exec(name string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := f.id(name)
	ex, err := f.docker.ExecCreate(ctx, id, dockerclient.ExecCreateOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", fmt.Errorf("exec in %s: %w", name, err)
	}
	att, err := f.docker.ExecAttach(ctx, ex.ID, dockerclient.ExecAttachOptions{})
	if err != nil {
		return "", fmt.Errorf("exec in %s: %w", name, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil && err != io.EOF {
		return out.String(), fmt.Errorf("exec in %s: reading its output: %w", name, err)
	}
	for {
		st, err := f.docker.ExecInspect(ctx, ex.ID, dockerclient.ExecInspectOptions{})
		if err != nil {
			return out.String(), fmt.Errorf("exec in %s: %w", name, err)
		}
		if !st.Running {
			if st.ExitCode != 0 {
				return out.String(), fmt.Errorf("%v in %s: exit status %d", argv, name, st.ExitCode)
			}
			return out.String(), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Running reports whether the container runs (paused counts as running).
func (f *Fleet) Running(name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := f.docker.ContainerInspect(ctx, f.id(name), dockerclient.ContainerInspectOptions{})
	return err == nil && res.Container.State != nil && res.Container.State.Running
}

// Logs returns what the container's processes wrote to stdout and stderr,
// over all its starts.
func (f *Fleet) Logs(name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := f.docker.ContainerLogs(ctx, f.id(name), dockerclient.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return fmt.Sprintf("(reading the log of %s: %v)", name, err)
	}
	defer r.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, r); err != nil {
		fmt.Fprintf(&out, "(reading the log of %s: %v)", name, err)
	}
	return out.String()
}

// do runs an engine call with a timeout, failing the test on error.
func (f *Fleet) do(what string, call func(context.Context) error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := call(ctx); err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
}

// StreamLeader returns the NATS node that leads the stream (e.g.
// "BERTH_WORK"): the node whose loss the cluster must ride out first.
func (f *Fleet) StreamLeader(stream string) string {
	f.t.Helper()
	return f.StreamPeers(stream)[0]
}

// StreamPeers returns the NATS nodes that hold the stream, its leader
// first, from the monitoring endpoint of a running node. It waits for the
// stream to have a leader.
func (f *Fleet) StreamPeers(stream string) []string {
	f.t.Helper()
	var last string
	for range 50 {
		for _, n := range NATSNodes {
			if !f.Running(n) {
				continue
			}
			out, err := f.Exec(n, "wget", "-q", "-O", "-", fmt.Sprintf("http://127.0.0.1:%d/jsz?accounts=true&streams=true", natsMonitorPort))
			if err != nil {
				last = err.Error()
				continue
			}
			var jsz struct {
				Accounts []struct {
					Streams []struct {
						Name    string `json:"name"`
						Cluster struct {
							Leader   string `json:"leader"`
							Replicas []struct {
								Name string `json:"name"`
							} `json:"replicas"`
						} `json:"cluster"`
					} `json:"stream_detail"`
				} `json:"account_details"`
			}
			if err := json.Unmarshal([]byte(out), &jsz); err != nil {
				last = err.Error()
				continue
			}
			for _, a := range jsz.Accounts {
				for _, s := range a.Streams {
					if s.Name == stream && s.Cluster.Leader != "" {
						peers := []string{s.Cluster.Leader}
						for _, r := range s.Cluster.Replicas {
							peers = append(peers, r.Name)
						}
						return peers
					}
				}
			}
			last = "no leader in " + out
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Fatalf("no leader of stream %s: %s", stream, last)
	return nil
}
