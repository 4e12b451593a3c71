package openjd_test

import (
	"bufio"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/berth-run/berth/openjd"
)

var update = flag.Bool("update", false, "rewrite testdata/conformance-pass.txt from this run")

const passListFile = "testdata/conformance-pass.txt"

// conformanceDir is $OPENJD_CONFORMANCE_DIR, else the shared checkout of
// the suite next to the repository (this package is one level below the
// repository root).
func conformanceDir() string {
	if d := os.Getenv("OPENJD_CONFORMANCE_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "openjd-conformance")
}

// fixture is one conformance case: a template that must pass or fail
// check, or a job that must run as expected (or be refused, or fail).
type fixture struct {
	id      string // group/kind/file, the key of the pass list
	group   string // base or the extension folder
	kind    string // job_templates, env_templates or jobs
	invalid bool
	docs    [][]byte     // template fixtures: the document to check
	exec    *execFixture // execution fixtures

	mu  sync.Mutex // guards ok and why, set by parallel subtests
	ok  bool
	why string // why it failed
}

// TestConformance runs the official conformance suite: NAME.yaml template
// fixtures must pass check and NAME.invalid.yaml ones must fail it;
// execution fixtures (jobs/NAME.test.yaml) run through the same code as
// `berth openjd run` and their expected output must appear (and forbidden
// output must not), while jobs/NAME.invalid.test.yaml must be refused or
// fail. It logs pass and fail counts per folder and the failures, and fails
// only if a fixture of the pass list stops passing.
func TestConformance(t *testing.T) {
	root := filepath.Join(conformanceDir(), "2023-09")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("conformance suite not found at %s (set OPENJD_CONFORMANCE_DIR): %v", root, err)
	}
	fixtures, err := loadFixtures(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		if f.exec == nil {
			f.ok, f.why = checkFixture(f)
		}
	}
	// The execution fixtures run python and bash.
	var missing []string
	for _, tool := range []string{"python", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Logf("execution fixtures skipped: %s not on PATH", strings.Join(missing, ", "))
		fixtures = slices.DeleteFunc(fixtures, func(f *fixture) bool { return f.exec != nil })
	}
	t.Run("jobs", func(t *testing.T) {
		for _, f := range fixtures {
			if f.exec == nil {
				continue
			}
			t.Run(strings.TrimSuffix(f.id, ".test.yaml"), func(t *testing.T) {
				t.Parallel()
				ok, why := runExecFixture(t, f)
				f.mu.Lock()
				f.ok, f.why = ok, why
				f.mu.Unlock()
			})
		}
	})

	type tally struct{ pass, fail int }
	counts := map[string]*tally{}
	var passed, failures []string
	for _, f := range fixtures {
		key := f.group + "/" + f.kind
		if counts[key] == nil {
			counts[key] = &tally{}
		}
		if f.ok {
			counts[key].pass++
			passed = append(passed, f.id)
		} else {
			counts[key].fail++
			failures = append(failures, f.id+": "+f.why)
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%-34s pass %3d  fail %3d", k, counts[k].pass, counts[k].fail)
	}
	for _, f := range failures {
		t.Logf("FAIL %s", f)
	}
	if os.Getenv("OPENJD_CONFORMANCE_VERBOSE") != "" {
		// Why each invalid fixture was refused, to check it was for the
		// right reason.
		for _, f := range fixtures {
			if f.ok && f.invalid && f.why != "" {
				t.Logf("REFUSED %s: %s", f.id, f.why)
			}
		}
	}
	if *update {
		if err := os.WriteFile(passListFile, []byte(strings.Join(passed, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := readPassList()
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./openjd/ -run Conformance -update)", err)
	}
	present := map[string]bool{}
	for _, f := range fixtures {
		present[f.id] = true
	}
	for _, id := range want {
		if present[id] && !slices.Contains(passed, id) {
			t.Errorf("regression: %s passed before and fails now", id)
		}
	}
}

func readPassList() ([]string, error) {
	f, err := os.Open(passListFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			ids = append(ids, line)
		}
	}
	return ids, sc.Err()
}

// checkFixture checks a template fixture.
func checkFixture(f *fixture) (bool, string) {
	for _, doc := range f.docs {
		if err := openjd.Check(doc, openjd.Options{}); err != nil {
			if f.invalid {
				return true, ""
			}
			return false, "rejected: " + oneLine(err.Error())
		}
	}
	if f.invalid {
		return false, "accepted, but the fixture is invalid"
	}
	return true, ""
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " |") }

// loadFixtures reads every fixture of the suite for this platform, skipping
// proposed/ folders.
func loadFixtures(root string) ([]*fixture, error) {
	var out []*fixture
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "proposed" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		parts := strings.Split(rel, "/")
		if len(parts) != 3 {
			return nil
		}
		group, kind, name := parts[0], parts[1], parts[2]
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		invalid := strings.Contains(name, ".invalid.")
		switch {
		case kind == "job_templates" || kind == "env_templates":
			if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".json") {
				return nil
			}
			out = append(out, &fixture{id: rel, group: group, kind: kind, invalid: invalid, docs: [][]byte{data}})
		case kind == "jobs" && strings.HasSuffix(name, ".test.yaml"):
			fx, err := parseExecFixture(data)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if fx != nil {
				out = append(out, &fixture{id: rel, group: group, kind: kind, invalid: invalid, exec: fx})
			}
		}
		return nil
	})
	return out, err
}
