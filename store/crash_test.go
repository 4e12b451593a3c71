package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/job"
)

const crashDBEnv = "BERTH_STORE_CRASH_DB"

// TestHelperProcess is the child of TestCrashSafety: it inserts jobs (and
// moves some tasks) until killed, printing each job's ID once JobInsert has
// returned it.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("helper process of TestCrashSafety")
	}
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		spec := array(fmt.Sprint("crash-", i), 1, 1+(i%5)*300, 1)
		if i%3 == 0 {
			spec = plain("crash-plain")
			spec.Inputs = []string{"a", "b"}
		}
		spec.Labels = map[string]string{"i": strconv.Itoa(i)}
		id, err := s.JobInsert(ctx, &JobInsertParams{Spec: spec.WithDefaults(), SubmittedAt: time.Now(), State: job.Queued})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("%d\n", id) // os.Stdout is unbuffered
		if err := s.TasksPut(ctx, []*job.Task{{JobID: id, Index: 1, State: job.Done}}, time.Now()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

// TestCrashSafety kills a writing process with SIGKILL at a random point,
// several times over, and checks after each that every job it reported is
// whole, that no job is half-written and that the database is intact.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "berth.db")
	var reported []int64
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), crashDBEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		killAfter := 5 + rand.IntN(10)
		for n := 0; ; n++ {
			line, err := r.ReadString('\n')
			if err == io.EOF {
				break // killed; a line without its newline was cut short
			}
			if err != nil {
				t.Fatal(err)
			}
			id, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
			if err != nil {
				t.Fatalf("child wrote %q", line)
			}
			reported = append(reported, id)
			if n == killAfter {
				time.AfterFunc(time.Duration(rand.IntN(30))*time.Millisecond, func() { cmd.Process.Kill() })
			}
		}
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("round %d: child ended with %v, want killed", round, err)
		}
		checkCrashDB(t, path, reported)
	}
}

func checkCrashDB(t *testing.T, path string, reported []int64) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatalf("reopening after kill: %v", err)
	}
	defer s.Close()
	var ok string
	if err := s.r.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	for _, id := range reported {
		j, err := s.JobGet(ctx, id)
		if err != nil {
			t.Fatalf("reported job %d: %v", id, err)
		}
		if j.TaskCount != j.Spec.TaskCount() {
			t.Fatalf("job %d: TaskCount %d, spec makes %d", id, j.TaskCount, j.Spec.TaskCount())
		}
	}
	// Every job in the file, reported or not, has exactly its spec's tasks.
	rows, err := s.r.Query(`SELECT j.id, j.spec, (SELECT count(*) FROM tasks t WHERE t.job_id = j.id) FROM jobs j`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	jobs := 0
	for rows.Next() {
		var id int64
		var raw string
		var n int
		if err := rows.Scan(&id, &raw, &n); err != nil {
			t.Fatal(err)
		}
		var spec job.Spec
		if err := json.Unmarshal([]byte(raw), &spec); err != nil {
			t.Fatal(err)
		}
		if n != spec.TaskCount() {
			t.Fatalf("job %d is half-written: %d of %d tasks", id, n, spec.TaskCount())
		}
		jobs++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if jobs < len(reported) {
		t.Fatalf("%d jobs in the database, %d reported", jobs, len(reported))
	}
	t.Logf("%d jobs reported, %d in the database", len(reported), jobs)
}
