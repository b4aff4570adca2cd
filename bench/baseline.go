package bench

import (
	"net"
	"strings"

	"github.com/valyala/fasthttp"
)

// baselineBody is the bare server's fixed answer: 200 bytes of JSON, about
// the size of a Completed one-transfer transaction.
var baselineBody = func() []byte {
	const head, tail = `{"status":"Completed","pad":"`, `"}`
	return []byte(head + strings.Repeat("x", 200-len(head)-len(tail)) + tail)
}()

// ServeBaseline runs the ceiling any HTTP API can reach on this machine: a
// fasthttp server that answers every request with a fixed 200-byte JSON
// body, reading nothing. It returns when ln is closed.
func ServeBaseline(ln net.Listener) error {
	s := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("application/json")
			ctx.SetBody(baselineBody)
		},
		Name:        "baseline",
		Concurrency: 100_000,
	}
	return s.Serve(ln)
}
