// Package api holds cloudwallet's HTTP contract as an OpenAPI 3.1 document
// (openapi.yaml: the contract of docs/API.md, with the choices made where
// it is silent, shaped for client generators) and the /docs page that
// renders it offline. The transport serves both; tests keep the document's
// operations and the router's routes the same set, validate the document
// as OpenAPI 3.1, and validate every answer the end-to-end tests receive
// against it.
package api
