// Package client is the Go client of the cloudwallet HTTP API: a typed call
// for every endpoint, API errors as typed values, retries that are safe
// because referenceIds are idempotent, Customer Key minting, and an
// auto-batching mode that sends concurrent CreateTransaction calls as one
// POST /transactions/batch, as TigerBeetle's clients batch transfers.
//
//	c, err := client.New(client.Config{Server: "http://127.0.0.1:8080", Token: accessKey})
//	tx, err := c.CreateTransaction(ctx, "order-1", client.Issue(wallet, 1000))
//	var apiErr *client.APIError
//	if errors.As(err, &apiErr) && apiErr.Code == client.CodeInsufficientFunds { ... }
//
// An answer whose outcome is not known (no answer at all, 202 Waiting, 503)
// is asked again with the same referenceId until it is definite or the
// context ends; a 409 to such a retry is the first try's own transaction.
//
// Files: client.go (the connection, requests, answers), errors.go (API
// errors), types.go (the resources), operator.go (projects, key pairs, the
// cluster), ledger.go (assets, customers, wallets, entries),
// transactions.go (transactions and their retries), batcher.go (the
// auto-batching mode), customerkey.go (minting Customer Keys).
package client
