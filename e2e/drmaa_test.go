package e2e

import (
	"fmt"
	"os/user"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
)

// TestJobOwner: a job records the user who submitted it (DRMAA2's
// jobOwner), shown by berth show.
func TestJobOwner(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	me, err := user.Current()
	require.NoError(t, err)
	id := submitted(t, s.Berth("", "run", "-d", "--", "true"))
	m := showJSON(t, s, fmt.Sprint(id))
	require.Equal(t, me.Username, m["job"].(map[string]any)["owner"])
	r := s.Berth("", "show", fmt.Sprint(id))
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Regexp(t, `(?m)^Owner:\s+`+me.Username+`$`, r.Stdout)
}
