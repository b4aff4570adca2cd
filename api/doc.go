// Package api holds cloudwallet's HTTP contract as an OpenAPI 3.1 document
// (openapi.yaml, written by hand from ../shared/API.md and the choices made
// where it is silent) and the /docs page that renders it offline. The
// transport serves both; a test keeps the document's operations and the
// router's routes the same set.
package api
