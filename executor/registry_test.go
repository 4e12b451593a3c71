package executor_test

import (
	"errors"
	"testing"

	"github.com/berth-run/berth/executor"
)

func TestRegistry(t *testing.T) {
	t.Parallel()
	type task struct{ n int }
	var r executor.Registry[*task]
	if err := r.Reserve("a"); err != nil {
		t.Fatal(err)
	}
	if err := r.Reserve("a"); !errors.Is(err, executor.ErrStartFailed) {
		t.Fatalf("second Reserve = %v, want ErrStartFailed", err)
	}
	if _, err := r.Get("a"); !errors.Is(err, executor.ErrNotFound) {
		t.Fatalf("Get of a reservation = %v, want ErrNotFound", err)
	}
	if !r.Has("a") || r.Len() != 1 {
		t.Fatal("a reservation counts as taken")
	}
	r.Unreserve("a")
	if r.Has("a") {
		t.Fatal("Unreserve left the ID taken")
	}

	one, two := &task{1}, &task{2}
	if !r.Put("b", one, true) || r.Put("b", two, true) {
		t.Fatal("Put with ifAbsent must take a free ID only")
	}
	r.Unreserve("b") // filled: stays
	if got, err := r.Get("b"); err != nil || got != one {
		t.Fatalf("Get = %v, %v", got, err)
	}
	r.Delete("b", two) // not its task: stays
	r.Delete("b", one)
	if r.Has("b") {
		t.Fatal("Delete left the task")
	}
}
