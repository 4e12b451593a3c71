package openjd

import (
	"bufio"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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

// fixture is one conformance case: a template that must pass or fail check.
type fixture struct {
	id      string // group/kind/file, the key of the pass list
	group   string // base or the extension folder
	invalid bool
	docs    [][]byte // the templates to check; all must pass, or one must fail
}

// TestConformance runs the template fixtures of the official conformance
// suite: NAME.yaml must pass check and NAME.invalid.yaml must fail it. The
// templates inside valid execution fixtures (jobs/*.test.yaml) must pass
// check too; running them belongs to the session runtime.
func TestConformance(t *testing.T) {
	root := filepath.Join(conformanceDir(), "2023-09")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("conformance suite not found at %s (set OPENJD_CONFORMANCE_DIR): %v", root, err)
	}
	fixtures, err := loadFixtures(root)
	if err != nil {
		t.Fatal(err)
	}
	type tally struct{ pass, fail int }
	counts := map[string]*tally{}
	var passed, failures []string
	for _, f := range fixtures {
		key := f.group + "/" + strings.Split(f.id, "/")[1]
		if counts[key] == nil {
			counts[key] = &tally{}
		}
		ok, why := runFixture(f)
		if ok {
			counts[key].pass++
			passed = append(passed, f.id)
		} else {
			counts[key].fail++
			failures = append(failures, f.id+": "+why)
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
	if *update {
		if err := os.WriteFile(passListFile, []byte(strings.Join(passed, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := readPassList()
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./openjd/... -run Conformance -update)", err)
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

func runFixture(f fixture) (bool, string) {
	for _, doc := range f.docs {
		if err := Check(doc, Options{}); err != nil {
			if f.invalid {
				return true, ""
			}
			return false, "rejected: " + strings.ReplaceAll(err.Error(), "\n", " |")
		}
	}
	if f.invalid {
		return false, "accepted, but the fixture is invalid"
	}
	return true, ""
}

func loadFixtures(root string) ([]fixture, error) {
	var out []fixture
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
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 {
			return nil
		}
		group, kind, name := parts[0], parts[1], parts[2]
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch {
		case kind == "job_templates" || kind == "env_templates":
			if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".json") {
				return nil
			}
			out = append(out, fixture{id: rel, group: group, invalid: strings.Contains(name, ".invalid."),
				docs: [][]byte{data}})
		case kind == "jobs" && strings.HasSuffix(name, ".test.yaml") && !strings.Contains(name, ".invalid."):
			docs, err := executionTemplates(data)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if docs != nil {
				out = append(out, fixture{id: rel, group: group, docs: docs})
			}
		}
		return nil
	})
	return out, err
}

// executionTemplates extracts the job template and environment templates
// of an execution fixture, or nil if the fixture does not run on this
// platform.
func executionTemplates(data []byte) ([][]byte, error) {
	var fx struct {
		Template     yaml.Node   `yaml:"template"`
		Environments []yaml.Node `yaml:"environments"`
		RunOn        []string    `yaml:"runOn"`
	}
	if err := yaml.Unmarshal(data, &fx); err != nil {
		return nil, err
	}
	if len(fx.RunOn) > 0 && !slices.ContainsFunc(fx.RunOn, func(p string) bool { return p == "posix" || p == "linux" }) {
		return nil, nil
	}
	docs := make([][]byte, 0, 1+len(fx.Environments))
	for _, n := range append([]yaml.Node{fx.Template}, fx.Environments...) {
		b, err := yaml.Marshal(&n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, b)
	}
	return docs, nil
}
