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
package transport
