package run

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
)

// TestContainerFlags checks the container flags: what they set, and that
// bad values are usage errors naming the flag, before anything is
// submitted.
func TestContainerFlags(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		args    []string
		want    job.Template
		wantErr string
	}{
		{name: "values", args: []string{"--image", "img", "--shm-size", "64m", "--ulimit", "nofile=1024", "--ulimit", "memlock=-1",
			"--gpus", "all", "--restart", "on-failure:2", "--expose", "80", "--expose", "53/udp", "--tmpfs", "/scratch:size=1m",
			"--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--dns", "10.0.0.53", "--add-host", "db:10.0.0.5", "--hostname", "n1",
			"--platform", "linux/amd64", "--privileged", "--pids", "100", "--", "sh"},
			want: job.Template{Command: "sh", Image: "img", Extensions: map[string]string{
				"shm-size": "64m", "ulimit": "nofile=1024,memlock=-1", "gpus": "all", "restart": "on-failure:2",
				"exposedPorts": "80,53/udp", "tmpfs": "/scratch:size=1m", "cap-add": "NET_ADMIN", "cap-drop": "ALL",
				"dns": "10.0.0.53", "add-host": "db:10.0.0.5", "hostname": "n1", "platform": "linux/amd64",
				"privileged": "true", "pids": "100"}}},
		{name: "mounts", args: []string{"--image", "img", "--mount", "/data:/in", "--mount", "rel:/rw:rw", "--mount", "/x:/y:ro",
			"--stage-out", "/out:/res", "--stage-out", "/log.txt:log.txt", "--", "sh"},
			want: job.Template{Command: "sh", Image: "img",
				StageIn: []job.Mount{{Host: "/data", Container: "/in"}, {Host: filepath.Join(wd, "rel"), Container: "/rw", RW: true},
					{Host: "/x", Container: "/y"}},
				StageOut: []job.Mount{{Container: "/out", Host: "/res"}, {Container: "/log.txt", Host: filepath.Join(wd, "log.txt")}}}},
		{name: "bad shm-size", args: []string{"--image", "i", "--shm-size", "lots", "--", "x"},
			wantErr: `invalid argument "lots" for "--shm-size" flag: want a positive size like 64m, not "lots"`},
		{name: "bad ulimit", args: []string{"--image", "i", "--ulimit", "nofile=a", "--", "x"}, wantErr: `for "--ulimit" flag: ulimit nofile: bad limit "a"`},
		{name: "bad gpus", args: []string{"--image", "i", "--gpus", "0", "--", "x"}, wantErr: `for "--gpus" flag`},
		{name: "bad restart", args: []string{"--image", "i", "--restart", "always:3", "--", "x"}, wantErr: `for "--restart" flag: a retry count goes only with on-failure`},
		{name: "bad cpus", args: []string{"--image", "i", "--cpus", "lots", "--", "x"}, wantErr: `invalid argument "lots" for "--cpus" flag`},
		{name: "bad memory", args: []string{"--image", "i", "--memory", "-1", "--", "x"}, wantErr: `for "--memory" flag`},
		{name: "bad expose", args: []string{"--image", "i", "--expose", "http", "--", "x"}, wantErr: `for "-p, --publish" flag`},
		{name: "publish", args: []string{"--image", "img", "-p", "8080:80", "--publish", "127.0.0.1::53/udp", "--expose", "90", "--", "sh"},
			want: job.Template{Command: "sh", Image: "img", Extensions: map[string]string{"exposedPorts": "8080:80,127.0.0.1::53/udp,90"}}},
		{name: "bad pull", args: []string{"--image", "i", "--pull", "sometimes", "--", "x"}, wantErr: `for "--pull" flag: want never, missing or always`},
		{name: "bad ext value", args: []string{"--image", "i", "--ext", "shm-size=0", "--", "x"},
			wantErr: `invalid argument "shm-size=0" for "--ext" flag: extension shm-size: want a positive size like 64m, not "0"`},
		{name: "unknown ext", args: []string{"--image", "i", "--ext", "volumes=/x", "--", "x"},
			wantErr: `for "--ext" flag: unknown container extension "volumes" (known: add-host,`},
		{name: "bad mount", args: []string{"--image", "i", "--mount", "/a", "--", "x"}, wantErr: `for "--mount" flag: want HOST:CONTAINER[:ro|rw]`},
		{name: "bad mount mode", args: []string{"--image", "i", "--mount", "/a:/b:rx", "--", "x"}, wantErr: `want ro or rw`},
		{name: "relative container", args: []string{"--image", "i", "--mount", "/a:b", "--", "x"}, wantErr: `the container path "b" is not absolute`},
		{name: "bad stage-out", args: []string{"--image", "i", "--stage-out", "/a:/b:rw", "--", "x"}, wantErr: `for "--stage-out" flag: want CONTAINER:HOST`},
		{name: "twice", args: []string{"--image", "i", "--mount", "/a:/in", "--mount", "/b:/in", "--", "x"},
			wantErr: `invalid job: template.stage_in[1].container: /in is also in template.stage_in[0]`},
		{name: "mount without image", args: []string{"--mount", "/a:/b", "--", "x"}, wantErr: "need --image"},
		{name: "output paths", args: []string{"--image", "img", "--output-path", "out.txt", "--error-path", "/var/err.txt", "--", "sh"},
			want: job.Template{Command: "sh", Image: "img", OutputPath: filepath.Join(wd, "out.txt"), ErrorPath: "/var/err.txt"}},
		{name: "output path without image", args: []string{"--output-path", "/a", "--", "x"}, wantErr: "need --image"},
		{name: "empty output path", args: []string{"--image", "i", "--error-path", "", "--", "x"}, wantErr: `for "--error-path" flag: empty path`},
		{name: "rm and stage-out", args: []string{"--image", "i", "--ext", "rm=true", "--stage-out", "/a:/b", "--", "x"},
			wantErr: "invalid job: template.stage_out: cannot copy out of a container the engine removes as it exits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := clitest.NewEnv(t, "http://unused:1", false)
			var got *Options
			code, err := clitest.Exec(NewCmdRun(env.F, func(_ context.Context, o *Options) error { got = o; return nil }), tc.args...)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Equal(t, cmdutil.ExitUsage, code)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Spec.Template)
		})
	}
}
