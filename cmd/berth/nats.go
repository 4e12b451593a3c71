package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-run/berth/internal/cli/cmdutil"
)

// natsFlags are how serve and worker reach a NATS beyond the embedded one.
type natsFlags struct {
	url       string
	tokenFile string
	nkeyFile  string
	credsFile string
}

func (n *natsFlags) add(fl *pflag.FlagSet, urlUsage string) {
	fl.StringVar(&n.url, "nats", "", urlUsage)
	fl.StringVar(&n.tokenFile, "nats-token-file", "", "read the NATS token from `FILE` (else $BERTH_NATS_TOKEN)")
	fl.StringVar(&n.nkeyFile, "nats-nkey", "", "authenticate to NATS with the NKey seed in `FILE`")
	fl.StringVar(&n.credsFile, "nats-creds", "", "authenticate to NATS with the credentials (JWT and NKey) in `FILE`")
}

// urls returns the --nats URLs, each with a scheme.
func (n *natsFlags) urls() ([]string, error) {
	if n.url == "" {
		return nil, nil
	}
	var out []string
	for _, u := range strings.Split(n.url, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			return nil, cmdutil.FlagErrorf("--nats %q: empty URL in the list", n.url)
		}
		if !strings.Contains(u, "://") {
			u = "nats://" + u
		}
		out = append(out, u)
	}
	return out, nil
}

// token returns the token from --nats-token-file or $BERTH_NATS_TOKEN.
func (n *natsFlags) token() (string, error) {
	if n.tokenFile == "" {
		return os.Getenv("BERTH_NATS_TOKEN"), nil
	}
	b, err := os.ReadFile(n.tokenFile)
	if err != nil {
		return "", fmt.Errorf("--nats-token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--nats-token-file %s is empty", n.tokenFile)
	}
	return t, nil
}
