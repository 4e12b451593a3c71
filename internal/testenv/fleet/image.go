package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dockerclient "github.com/moby/moby/client"

	"github.com/berth-run/berth/internal/testenv"
)

// imageRepo names the fleet images; the tag is a hash of their binaries.
const imageRepo = "berth-test/fleet"

// Where the image holds the binaries.
const (
	berthPath = "/usr/local/bin/berth"
	natsPath  = "/usr/local/bin/nats-server"
)

var (
	imageOnce sync.Once
	imageName string
	imageErr  error
)

// Image returns the name of the fleet image: busybox (as
// testenv.DockerImage), /usr/local/bin/berth (testenv.Berth, static) and
// /usr/local/bin/nats-server, built from the module's own nats-server
// dependency. It is imported through the engine (no registry) once per
// content: the tag is a hash of the binaries, so an unchanged checkout
// reuses the image of an earlier run.
func Image(t testing.TB) string {
	t.Helper()
	c := testenv.RequireDocker(t)
	berth := testenv.Berth(t)
	imageOnce.Do(func() {
		var nats string
		if nats, imageErr = buildNATS(); imageErr != nil {
			return
		}
		var tag string
		if tag, imageErr = hashFiles(berth, nats, "/bin/busybox"); imageErr != nil {
			return
		}
		imageName = imageRepo + ":" + tag
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		imageErr = testenv.ImportImage(ctx, c, imageName,
			testenv.ImageFile{Path: strings.TrimPrefix(berthPath, "/"), Host: berth, Mode: 0o755},
			testenv.ImageFile{Path: strings.TrimPrefix(natsPath, "/"), Host: nats, Mode: 0o755})
		if imageErr == nil {
			pruneImages(ctx, c, imageName)
		}
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageName
}

// buildNATS builds the nats-server of go.mod's module graph, statically.
func buildNATS() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	dir, err := os.MkdirTemp("", "berth-nats-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nats-server")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building nats-server: %v\n%s", err, out)
	}
	return bin, nil
}

// hashFiles returns a short hash of the files' contents.
func hashFiles(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hashing %s: %w", p, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// pruneImages removes the fleet images of other builds made over a day
// ago, so that they do not pile up; one still in use stays.
func pruneImages(ctx context.Context, c *dockerclient.Client, keep string) {
	res, err := c.ImageList(ctx, dockerclient.ImageListOptions{Filters: make(dockerclient.Filters).Add("reference", imageRepo)})
	if err != nil {
		return
	}
	for _, img := range res.Items {
		if slices.Contains(img.RepoTags, keep) || time.Since(time.Unix(img.Created, 0)) < 24*time.Hour {
			continue
		}
		for _, tag := range img.RepoTags {
			_, _ = c.ImageRemove(ctx, tag, dockerclient.ImageRemoveOptions{})
		}
	}
}
