package client

import (
	"context"
	"net/http"
	"strings"

	"github.com/berth-run/berth/api"
)

// UICode asks the server for a one-time dashboard login. When the server
// gives no URL but this client reaches it over TCP, the URL is made on the
// client's address.
func (c *Client) UICode(ctx context.Context) (*api.UICode, error) {
	var out api.UICode
	if err := c.do(ctx, http.MethodPost, "/ui/codes", nil, nil, &out); err != nil {
		return nil, err
	}
	if out.URL == "" && strings.HasPrefix(c.base, "http") && c.base != "http://berth" {
		out.URL = strings.TrimSuffix(c.base, "/") + "/ui/login?code=" + out.Code
	}
	return &out, nil
}
