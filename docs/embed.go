// Package docs holds berth's documentation; Go code embeds the API
// description from it (GET /v1/openapi.yaml).
package docs

import _ "embed"

// OpenAPI is openapi.yaml, the description of the HTTP API.
//
//go:embed openapi.yaml
var OpenAPI []byte
