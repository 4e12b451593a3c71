package client

import (
	"context"
	"net/http"
	"strings"
)

// UICode is a one-time login code of the dashboard and the loopback URL
// that spends it (empty when the server does not listen on TCP).
type UICode struct {
	Code string `json:"code"`
	URL  string `json:"url"`
}

// UICode asks the server for a one-time dashboard login. When the server
// gives no URL but this client reaches it over TCP, the URL is made on the
// client's address.
func (c *Client) UICode(ctx context.Context) (*UICode, error) {
	var out UICode
	if err := c.do(ctx, http.MethodPost, "/ui/codes", nil, nil, &out); err != nil {
		return nil, err
	}
	if out.URL == "" && strings.HasPrefix(c.base, "http") && c.base != "http://berth" {
		out.URL = strings.TrimSuffix(c.base, "/") + "/ui/login?code=" + out.Code
	}
	return &out, nil
}
