// Package transport is cloudwallet's outside world: the REST API of
// ../shared/API.md served with fasthttp.
//
// A request goes: router (a table of route templates, routes.go) →
// authentication (operator token, Access Key or Customer Key as HS256 JWTs,
// auth.go) → permission check for Customer Keys → handler. Handlers copy
// everything they need out of fasthttp's pooled request before calling the
// engine, validate what needs no state (400s), and render the engine's
// results. Every operating error is an apiError, and shard codes and engine
// errors map to HTTP in one place (errors.go).
//
// The operations endpoints (ops.go) need no key: /livez, /readyz (the
// node's checks plus the server's own: starting, serving, shutting down),
// /metrics, /openapi.json and /docs (from package api). Every request is
// counted by route template, method and status code. Connections close
// lingering (linger.go) so an early error answer is not lost to a reset.
package transport
