package executor

import (
	"fmt"
	"sync"
)

// Registry maps task IDs to an executor's tasks; it is safe for concurrent
// use. While a task starts its ID is reserved, so that two Starts of one ID
// cannot both go on. T is a pointer type; its zero value marks a
// reservation.
type Registry[T comparable] struct {
	mu sync.Mutex
	m  map[string]T
}

// Reserve claims id for a task about to start; it fails, wrapping
// ErrStartFailed, if the ID is taken or reserved.
func (r *Registry[T]) Reserve(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[id]; ok {
		return fmt.Errorf("start %s: a task with this ID exists: %w", id, ErrStartFailed)
	}
	if r.m == nil {
		r.m = map[string]T{}
	}
	var zero T
	r.m[id] = zero
	return nil
}

// Unreserve gives up a reservation of id that was not filled.
func (r *Registry[T]) Unreserve(id string) {
	var zero T
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.m[id]; ok && t == zero {
		delete(r.m, id)
	}
}

// Put records t as id's task, filling a reservation or not. With
// ifAbsent it does nothing, and reports false, when id is taken or
// reserved.
func (r *Registry[T]) Put(id string, t T, ifAbsent bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[id]; ok && ifAbsent {
		return false
	}
	if r.m == nil {
		r.m = map[string]T{}
	}
	r.m[id] = t
	return true
}

// Get returns id's task, or an error wrapping ErrNotFound when there is none
// (or it is still starting).
func (r *Registry[T]) Get(id string) (T, error) {
	var zero T
	r.mu.Lock()
	t := r.m[id]
	r.mu.Unlock()
	if t == zero {
		return zero, fmt.Errorf("task %q: %w", id, ErrNotFound)
	}
	return t, nil
}

// Has reports whether id is taken or reserved.
func (r *Registry[T]) Has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[id]
	return ok
}

// Delete forgets id if t is still its task.
func (r *Registry[T]) Delete(id string, t T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[id] == t {
		delete(r.m, id)
	}
}

// Len returns how many IDs are taken or reserved.
func (r *Registry[T]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
