package server

import (
	"net/http"
	"testing"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/stretchr/testify/require"
)

// TestHealthDiskFull fills the data directory's file system (a small
// tmpfs): the health says the store's disk is full, reads are still
// served, a write fails with a clear error; once space is freed the health
// is ok again without any other write.
func TestHealthDiskFull(t *testing.T) {
	t.Parallel()
	disk := testenv.SmallDisk(t, 4<<20)
	b := setupIn(t, disk)
	var j map[string]any
	b.doJSON(t, "POST", "/v1/jobs", `{"template": {"command": "true"}}`, http.StatusCreated, &j)

	filler := testenv.FillDisk(t, disk)
	var h map[string]any
	b.doJSON(t, "GET", "/v1/health", "", http.StatusOK, &h)
	require.Equal(t, "degraded", h["status"])
	require.Contains(t, h["store"], "disk full")

	code, body := b.do(t, "POST", "/v1/jobs", `{"template": {"command": "true"}}`)
	require.Equal(t, http.StatusInternalServerError, code, string(body))
	require.Contains(t, string(body), "full")
	h = nil
	b.doJSON(t, "GET", "/v1/health", "", http.StatusOK, &h)
	require.Equal(t, "degraded", h["status"])
	require.Contains(t, h["store"], "disk full")
	b.doJSON(t, "GET", "/v1/jobs/1", "", http.StatusOK, &j)
	require.Equal(t, "Queued", j["state"])

	filler.Free()
	h = nil
	b.doJSON(t, "GET", "/v1/health", "", http.StatusOK, &h)
	require.Equal(t, "ok", h["status"], h)
	require.NotContains(t, h, "store")
}
