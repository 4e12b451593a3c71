package process

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestEndRecord checks that the journal line of an end, written by hand,
// is what encoding/json writes, and that an ID needing escapes still is.
func TestEndRecord(t *testing.T) {
	for _, id := range []string{"2.998.1", "7.0.3", `a"b`, "x\\y", "é", "tab\there"} {
		dir := t.TempDir()
		e := &Executor{stateDir: dir}
		if err := e.appendRecord(record{End: id}); err != nil {
			t.Fatal(err)
		}
		e.journal.Close()
		got, err := os.ReadFile(filepath.Join(dir, journalName))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(record{End: id})
		if string(got) != string(want)+"\n" {
			t.Errorf("end of %q: got %q, want %q", id, got, want)
		}
	}
}
