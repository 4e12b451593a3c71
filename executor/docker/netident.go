package docker

import (
	"cmp"
	"context"
	"slices"
	"strconv"

	"github.com/moby/moby/client"

	"github.com/berth-run/berth/job"
)

// netIdent says where a started container is reached: its host name and
// the ports it published, as bound. The engine is asked only for what berth
// cannot know itself: host ports it picks, and the host name in a network
// namespace the container shares (host, container:NAME). Otherwise the
// host name is the one set, else, as the engine makes it, the first 12
// digits of the container ID.
func (e *Executor) netIdent(ctx context.Context, id string, cs *containerSpec) (string, []job.PublishedPort) {
	host := cmp.Or(cs.Config.Hostname, shortID(id))
	nm := cs.HostConfig.NetworkMode
	if len(cs.HostConfig.PortBindings) == 0 && !nm.IsHost() && !nm.IsContainer() {
		return host, nil
	}
	res, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		e.log.WarnContext(ctx, "inspecting the started container for its host name and ports", "container", shortID(id), "err", err)
		return host, nil
	}
	if c := res.Container.Config; c != nil && c.Hostname != "" {
		host = c.Hostname
	}
	var ports []job.PublishedPort
	if ns := res.Container.NetworkSettings; ns != nil {
		for port, bindings := range ns.Ports {
			for _, b := range bindings {
				hp, err := strconv.ParseUint(b.HostPort, 10, 16)
				if err != nil {
					continue
				}
				p := job.PublishedPort{Port: port.Num(), Proto: string(port.Proto()), HostPort: uint16(hp)}
				if b.HostIP.IsValid() {
					p.HostIP = b.HostIP.String()
				}
				ports = append(ports, p)
			}
		}
	}
	slices.SortFunc(ports, func(a, b job.PublishedPort) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.HostIP, b.HostIP), cmp.Compare(a.HostPort, b.HostPort))
	})
	return host, ports
}
