package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-run/berth/job"
)

// maxBodyBytes bounds request bodies: a spec with a million inputs fits.
const maxBodyBytes = 64 << 20

// decodeBody decodes a JSON request body into v, rejecting unknown fields,
// trailing data and bodies past maxBodyBytes. Errors name the field at
// fault.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return invalid("body", "larger than %d MiB", maxBodyBytes>>20)
		}
		return invalid("body", "reading the body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return invalid("body", "empty: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(data, reflect.TypeOf(v).Elem(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("body", "unexpected data after the JSON object at byte %d", dec.InputOffset())
	}
	// encoding/json keeps the last of duplicate keys; a body that says two
	// things is refused instead.
	if field := duplicateKey(data); field != "" {
		return invalid(field, "given more than once")
	}
	return nil
}

// duplicateKey returns the path of the first key that an object of a JSON
// document (already known to be valid) holds twice, or "". It scans the
// bytes instead of decoding tokens: a body of a million inputs costs a
// small part of its decoding.
func duplicateKey(data []byte) string {
	type frame struct {
		keys  map[string]bool // nil for an array
		key   string          // an object's current key
		index int             // an array's current index
	}
	var stack []*frame
	expectKey := false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, &frame{keys: map[string]bool{}})
			expectKey = true
		case '[':
			stack = append(stack, &frame{})
			expectKey = false
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			if top := stack[len(stack)-1]; top.keys != nil {
				expectKey = true
			} else {
				top.index++
			}
		case '"':
			j, escaped := i+1, false
			for ; j < len(data) && data[j] != '"'; j++ {
				if data[j] == '\\' {
					j++
					escaped = true
				}
			}
			if expectKey {
				k := string(data[i+1 : j])
				if escaped {
					_ = json.Unmarshal(data[i:j+1], &k)
				}
				top := stack[len(stack)-1]
				top.key = k
				if top.keys[k] {
					path := ""
					for _, f := range stack {
						if f.keys != nil {
							path = join(path, f.key)
						} else {
							path = fmt.Sprintf("%s[%d]", path, f.index)
						}
					}
					return path
				}
				top.keys[k] = true
				expectKey = false
			}
			i = j
		}
	}
	return ""
}

// jsonError turns a decoding error into a 400 naming the field. encoding/json
// names the field of type errors only, so for the rest (unknown fields,
// errors of UnmarshalJSON methods) the body is walked to find it.
func jsonError(data []byte, t reflect.Type, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return invalid("body", "invalid JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return invalid("body", "truncated JSON")
	}
	if field, msg := findFault(data, t, ""); field != "" {
		return invalid(field, "%s", msg)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return invalid(te.Field, "want %s, got %s", typeName(te.Type), te.Value)
	}
	return invalid("body", "%s", strings.TrimPrefix(err.Error(), "json: "))
}

// findFault walks data along type t and returns the path and reason of the
// first value that does not decode: an unknown field, a wrong type, or a
// value an UnmarshalJSON method refuses. Keys are visited in sorted order
// so the answer is stable.
func findFault(data []byte, t reflect.Type, path string) (string, string) {
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		if err := json.Unmarshal(data, reflect.New(t).Interface()); err != nil {
			return orBody(path), err.Error()
		}
		return "", ""
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return "", ""
	}
	switch t.Kind() {
	case reflect.Pointer:
		return findFault(data, t.Elem(), path)
	case reflect.Struct:
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return orBody(path), "want an object, got " + jsonKind(data)
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			ft, ok := fields[k]
			if !ok {
				for name, f := range fields { // encoding/json matches names case-insensitively
					if strings.EqualFold(name, k) {
						ft, ok = f, true
						break
					}
				}
			}
			if !ok {
				return join(path, k), fmt.Sprintf("unknown field (want one of %s)", strings.Join(sortedKeys(fields), ", "))
			}
			if f, msg := findFault(m[k], ft, join(path, k)); f != "" {
				return f, msg
			}
		}
	case reflect.Slice:
		var items []json.RawMessage
		if json.Unmarshal(data, &items) != nil {
			return orBody(path), "want an array, got " + jsonKind(data)
		}
		for i, it := range items {
			if f, msg := findFault(it, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); f != "" {
				return f, msg
			}
		}
	case reflect.Map:
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return orBody(path), "want an object, got " + jsonKind(data)
		}
		for _, k := range sortedKeys(m) {
			if f, msg := findFault(m[k], t.Elem(), join(path, k)); f != "" {
				return f, msg
			}
		}
	default:
		if err := json.Unmarshal(data, reflect.New(t).Interface()); err != nil {
			return orBody(path), fmt.Sprintf("want %s, got %s", typeName(t), jsonKind(data))
		}
	}
	return "", ""
}

// jsonFields maps the JSON names of a struct's fields (embedded structs
// flattened, as encoding/json does) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || (f.Anonymous && f.Type.Kind() == reflect.Struct) {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

// jsonKind describes a JSON value for messages: "a string", "a number".
func jsonKind(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// typeName describes a Go type in JSON terms.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return typeName(t.Elem())
	}
	return t.String()
}

// query reads and validates query parameters. The first error sticks; Err
// also rejects parameters no getter asked for.
type query struct {
	v    url.Values
	seen []string
	err  error
}

// newQuery reads r's query. A NUL in a name or value is refused: it would
// reach SQL (a name glob matching every unnamed job) or a log.
func newQuery(r *http.Request) *query {
	q := &query{v: r.URL.Query()}
	for _, k := range sortedKeys(q.v) {
		if strings.ContainsRune(k, 0) {
			q.fail(invalid("query", "a parameter name contains NUL"))
		}
		for _, v := range q.v[k] {
			if strings.ContainsRune(v, 0) {
				q.fail(invalid(k, "must not contain NUL"))
			}
		}
	}
	return q
}

func (q *query) fail(err error) {
	if q.err == nil {
		q.err = err
	}
}

// values returns every value of a repeatable parameter, comma-separated
// lists split, empty items dropped.
func (q *query) values(name string) []string {
	q.seen = append(q.seen, name)
	var out []string
	for _, v := range q.v[name] {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// raw returns every value of a repeatable parameter as given.
func (q *query) raw(name string) []string {
	q.seen = append(q.seen, name)
	return q.v[name]
}

func (q *query) str(name, def string) string {
	q.seen = append(q.seen, name)
	if len(q.v[name]) == 0 {
		return def
	}
	if len(q.v[name]) > 1 {
		q.fail(invalid(name, "given more than once"))
	}
	return q.v[name][0]
}

func (q *query) boolean(name string) bool {
	s := q.str(name, "false")
	b, err := strconv.ParseBool(s)
	if err != nil {
		q.fail(invalid(name, "invalid %q: want true or false", s))
	}
	return b
}

// int64In reads an integer in [lo, hi].
func (q *query) int64In(name string, def, lo, hi int64) int64 {
	s := q.str(name, "")
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		q.fail(invalid(name, "invalid %q: want an integer from %d to %d", s, lo, hi))
		return def
	}
	return n
}

func (q *query) states(name string) []job.State {
	var out []job.State
	for _, s := range q.values(name) {
		st, err := job.ParseState(s)
		if err != nil {
			q.fail(invalid(name, "%v", err))
			continue
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out
}

func (q *query) ids(name string) []int64 {
	var out []int64
	for _, s := range q.values(name) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			q.fail(invalid(name, "invalid job ID %q: want a positive integer", s))
			continue
		}
		out = append(out, n)
	}
	return out
}

// duration reads a duration ("30s", "90", "2d"); ok is false when absent.
func (q *query) duration(name string) (time.Duration, bool) {
	s := q.str(name, "")
	if s == "" {
		return 0, false
	}
	d, err := job.ParseDuration(s)
	if err != nil {
		q.fail(invalid(name, "%v", err))
		return 0, false
	}
	return d.Std(), true
}

// Err returns the first error, or a 400 for a parameter no getter read.
func (q *query) Err() error {
	if q.err != nil {
		return q.err
	}
	for _, k := range sortedKeys(q.v) {
		if !slices.Contains(q.seen, k) {
			known := slices.Clone(q.seen)
			sort.Strings(known)
			if len(known) == 0 {
				return invalid(k, "unknown parameter (this endpoint takes none)")
			}
			return invalid(k, "unknown parameter (want %s)", strings.Join(known, ", "))
		}
	}
	return nil
}

// pathRef parses the {ref} (or {id}) path value as a job or task ref.
func pathRef(r *http.Request, name string) (job.Ref, error) {
	ref, err := job.ParseRef(r.PathValue(name))
	if err != nil {
		return job.Ref{}, invalid(name, "%v", err)
	}
	return ref, nil
}

// pathID parses the {id} path value as a job ID.
func pathID(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, invalid("id", "invalid job ID %q: want a positive integer", s)
	}
	return n, nil
}
