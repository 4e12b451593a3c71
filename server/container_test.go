package server

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/api"
)

// TestSubmitInvalidContainer checks that bad container settings are a 400
// naming the field, and record nothing.
func TestSubmitInvalidContainer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, c := range []struct {
		name, body, field, msg string
	}{
		{"bad value", `{"template":{"command":"x","image":"i","extensions":{"shm-size":"lots"}}}`,
			"template.extensions.shm-size", `want a positive size like 64m, not "lots"`},
		{"unknown key", `{"template":{"command":"x","image":"i","extensions":{"volumes":"/x"}}}`,
			"template.extensions.volumes", "unknown container extension (known: add-host,"},
		{"process job", `{"template":{"command":"x","extensions":{"memory":"1g"}}}`,
			"template.extensions.memory", "a process job (no image) takes no extensions"},
		{"relative stage-in", `{"template":{"command":"x","image":"i","stage_in":[{"host":"data","container":"/in"}]}}`,
			"template.stage_in[0].host", "must be an absolute path"},
		{"stage-out rw", `{"template":{"command":"x","image":"i","stage_out":[{"host":"/r","container":"/o","rw":true}]}}`,
			"template.stage_out[0].rw", "only stage_in mounts can be writable"},
		{"relative output path", `{"template":{"command":"x","output_path":"out.txt"}}`, "template.output_path", "must be an absolute path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b.requireError(t, "POST", "/v1/jobs", c.body, http.StatusBadRequest, "invalid", c.field, c.msg)
		})
	}
	var list api.JobPage
	b.doJSON(t, "GET", "/v1/jobs", "", http.StatusOK, &list)
	require.Empty(t, list.Jobs)
}
