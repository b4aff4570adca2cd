// Package transport is cloudwallet's HTTP edge: the REST API of
// docs/API.md served with fasthttp. (The internal port between nodes is
// package peer, below the engine.)
//
// A request goes: router (a table of route templates, routes.go and the
// API's table in routes_api.go) → authentication (operator token, Access
// Key or Customer Key as HS256 JWTs, auth.go) → permission check for
// Customer Keys → handler (a file per resource). Handlers copy everything
// they need out of fasthttp's pooled request, validate what needs no state
// (400s), call one of the engine's operations or queries, and render the
// result: they never assemble commands, route, or merge pages. Every operating error is an apiError, and shard codes and engine
// errors map to HTTP in one place (errors.go).
//
// Every read is linearizable unless it asks ?consistency=stale: each read
// route names the groups it reads (routes_api.go), which the engine brings
// up to date (engine.Node.Confirm) before the handler reads; the key and a
// Customer Key's customer are checked again after that. Writes run no such
// round: the log orders them, and each carries who made it (principal.by),
// checked where it applies.
//
// The operations endpoints (ops.go) need no key: /livez, /readyz (the
// node's checks plus the server's own: starting, serving, shutting down),
// /metrics, /openapi.json and /docs (from package api). /cluster and
// DELETE /cluster/nodes/{id} take the operator token. Every request is
// counted by route template, method and status code. Connections close
// lingering (linger.go) so an early error answer is not lost to a reset.
package transport
