package daemon

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/berth-run/berth/executor/docker"
	"github.com/berth-run/berth/internal/datadir"
)

// removeKept removes the containers the local worker kept after the tasks
// of job id ended (the "rm" extension false), once the job is removed.
// Containers kept by workers on other hosts are theirs to remove.
func removeKept(dir datadir.Dir, log *slog.Logger) func(context.Context, int64) {
	return func(ctx context.Context, id int64) {
		cli, err := client.New(client.FromEnv)
		if err != nil {
			return
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		prefix := docker.KeptPrefix + strconv.FormatInt(id, 10) + "."
		f := make(client.Filters).Add("label", docker.LabelExecutor+"="+LocalInstance(dir)).Add("label", docker.LabelKeep+"=true")
		list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			log.Debug("cannot list the kept containers", "job", id, "err", err)
			return
		}
		for _, c := range list.Items {
			for _, n := range c.Names {
				if strings.HasPrefix(strings.TrimPrefix(n, "/"), prefix) {
					if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
						log.Warn("cannot remove a kept container of a removed job", "job", id, "container", c.ID[:12], "err", err)
					}
					break
				}
			}
		}
	}
}
