package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// DockerTestImage is the image DockerImage builds: a root filesystem holding
// only the host's static busybox and its applets.
const DockerTestImage = "berth-test/busybox:latest"

// busyboxPath is where Debian's busybox-static installs the binary.
const busyboxPath = "/bin/busybox"

var (
	dockerOnce   sync.Once
	dockerClient *client.Client
	dockerErr    error

	imageOnce sync.Once
	imageErr  error
)

// RequireDocker returns a client of the Docker engine at $DOCKER_HOST (or the
// default socket), with API version negotiation. If the engine does not
// answer, the test is skipped, unless $BERTH_REQUIRE_DOCKER=1, when it fails.
func RequireDocker(t testing.TB) *client.Client {
	t.Helper()
	dockerOnce.Do(func() {
		c, err := client.New(client.FromEnv)
		if err != nil {
			dockerErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			c.Close()
			dockerErr = err
			return
		}
		dockerClient = c
	})
	if dockerErr != nil {
		msg := fmt.Sprintf("Docker engine unreachable (run `make deps` to start it): %v", dockerErr)
		if os.Getenv("BERTH_REQUIRE_DOCKER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dockerClient
}

// DockerImage makes sure the image DockerTestImage exists and returns its
// name. It builds the image without any registry, once per test process: a
// tar of a root filesystem with /bin/busybox copied from the host, a symlink
// to it for each applet, and /tmp, imported through the engine's image
// import. It skips or fails as RequireDocker does, and fails if the host has
// no static busybox (`make deps` installs it).
func DockerImage(t testing.TB) string {
	t.Helper()
	c := RequireDocker(t)
	imageOnce.Do(func() { imageErr = importBusybox(c) })
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return DockerTestImage
}

func importBusybox(c *client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return ImportImage(ctx, c, DockerTestImage)
}

// ImageFile is a file of the host added to an image by ImportImage.
type ImageFile struct {
	Path string // where in the image, e.g. "usr/local/bin/berth"
	Host string // the file on the host
	Mode int64  // its mode in the image
}

// ImportImage makes sure the image name exists, importing it if it does
// not: the root filesystem of DockerTestImage (the host's static busybox,
// its applets, /etc/passwd, /tmp) plus files. Name images by a hash of
// what they hold: an existing name is taken as is.
func ImportImage(ctx context.Context, c *client.Client, name string, files ...ImageFile) error {
	if _, err := c.ImageInspect(ctx, name); err == nil {
		return nil
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfs(pw, files)) }()
	defer pr.Close()
	res, err := c.ImageImport(ctx, client.ImageImportSource{Source: pr, SourceName: "-"},
		name, client.ImageImportOptions{Changes: []string{`CMD ["/bin/sh"]`, "ENV PATH=/bin"}})
	if err != nil {
		return fmt.Errorf("importing %s: %w", name, err)
	}
	defer res.Close()
	out, err := io.ReadAll(res)
	if err != nil {
		return fmt.Errorf("importing %s: %w", name, err)
	}
	if bytes.Contains(out, []byte(`"error"`)) {
		return fmt.Errorf("importing %s: %s", name, out)
	}
	if _, err := c.ImageInspect(ctx, name); err != nil {
		return fmt.Errorf("importing %s: image missing afterwards: %w (%s)", name, err, out)
	}
	return nil
}

// writeRootfs writes the tar of an image's root filesystem to w.
func writeRootfs(w io.Writer, files []ImageFile) error {
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("the Docker tests need a static busybox at %s (run `make deps`, which installs busybox-static): %w", busyboxPath, err)
	}
	list, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", busyboxPath, err)
	}
	tw := tar.NewWriter(w)
	now := time.Now()
	dirs := map[string]bool{}
	dir := func(name string, mode int64) error {
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: now})
	}
	for _, d := range []string{"bin/", "etc/", "proc/", "sys/", "dev/", "work/"} {
		if err := dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := dir("tmp/", 0o1777); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: now}); err != nil {
		return err
	}
	if _, err := tw.Write(bin); err != nil {
		return err
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
	group := "root:x:0:\nnogroup:x:65534:\n"
	for name, body := range map[string]string{"etc/passwd": passwd, "etc/group": group} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: now}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, body); err != nil {
			return err
		}
	}
	for applet := range strings.FieldsSeq(string(list)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: now}); err != nil {
			return err
		}
	}
	for _, f := range files {
		// Parents first, each once.
		for i := range len(f.Path) {
			if f.Path[i] == '/' && !dirs[f.Path[:i+1]] {
				if err := dir(f.Path[:i+1], 0o755); err != nil {
					return err
				}
			}
		}
		if err := addFile(tw, f, now); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, f ImageFile, now time.Time) error {
	src, err := os.Open(f.Host)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: f.Mode, Size: fi.Size(), ModTime: now}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, src); err != nil {
		return fmt.Errorf("adding %s to the image: %w", f.Host, err)
	}
	return nil
}
