package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/shard"
)

// Config configures the HTTP API server.
type Config struct {
	// OperatorToken authenticates the operator; empty disables it.
	OperatorToken string
	// BodyBytesMax is the largest request body accepted (413 beyond),
	// but on POST /transactions/batch, which takes BatchBodyBytesMax.
	BodyBytesMax      int
	BatchBodyBytesMax int
	// ConnectionsMax bounds concurrent connections; beyond it a new
	// connection is answered 503 and closed. Size it below the open-file
	// limit (cmd/cloudwallet sizes it from RLIMIT_NOFILE).
	ConnectionsMax int
	// ConnectionsPerIPMax bounds concurrent connections from one client
	// IP (0: no bound but ConnectionsMax).
	ConnectionsPerIPMax int
	// Timeouts of one request read, one response write, and an idle
	// keep-alive connection.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Metrics, if set, receives the HTTP metrics, and /metrics serves it
	// (with every other collector registered on it).
	Metrics *prometheus.Registry
	// MetricsAuth makes /metrics require the operator token.
	MetricsAuth bool
	// Log receives what the HTTP layer itself logs (requests it cannot
	// parse, connections over a limit), credentials removed. Nil: discarded.
	Log *slog.Logger
}

// DefaultConfig returns the defaults of API.md: 1 MiB bodies.
func DefaultConfig() Config {
	return Config{
		BodyBytesMax:      1 << 20,
		BatchBodyBytesMax: 16 << 20,
		ConnectionsMax:    100_000,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// Server serves the REST API of one node. Its fields are set by New and
// read-only after; tokens and conns guard themselves, and the two flags
// are atomic.
type Server struct {
	cfg     Config
	node    *engine.Node
	routes  routeTable
	srv     *fasthttp.Server
	tokens  verifiedCache
	metrics *httpMetrics
	conns   *connStates

	opened   atomic.Bool // Open was called: the API is served
	draining atomic.Bool // Drain was called: not ready, shutting down
}

// New builds a server over a node. API requests answer 503 UNAVAILABLE
// until Open; the operations endpoints (ops.go) work at once.
func New(node *engine.Node, cfg Config) (*Server, error) {
	if cfg.BodyBytesMax < 1 || cfg.BatchBodyBytesMax < cfg.BodyBytesMax {
		return nil, fmt.Errorf("transport: body limits %d and %d (batches): both positive, the batches' no smaller", cfg.BodyBytesMax, cfg.BatchBodyBytesMax)
	}
	s := &Server{cfg: cfg, node: node}
	var err error
	if s.metrics, err = newHTTPMetrics(cfg.Metrics); err != nil {
		return nil, err
	}
	if s.conns, err = newConnStates(cfg.Metrics); err != nil {
		return nil, err
	}
	s.registerOpsRoutes()
	s.registerRoutes()
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.srv = &fasthttp.Server{
		Handler:      s.Handle,
		ErrorHandler: s.handleTransportError,
		ConnState:    s.conns.change,
		Logger:       httpLogger{log},
		// Errors never quote the request's bytes (its headers hold keys).
		SecureErrorLogMessage: true,
		Name:                  "cloudwallet",
		MaxRequestBodySize:    cfg.BodyBytesMax,
		HeaderReceived:        s.requestConfig,
		Concurrency:           cfg.ConnectionsMax,
		MaxConnsPerIP:         cfg.ConnectionsPerIPMax,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
	}
	return s, nil
}

// Serve serves on ln until Shutdown. Connections close lingering (see
// linger.go), so early error answers reach clients that are still sending.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(lingerListener{ln}) }

// Shutdown stops accepting connections and waits for requests in flight.
func (s *Server) Shutdown() error { return s.srv.Shutdown() }

// ShutdownWithContext is Shutdown that gives up waiting when ctx ends.
func (s *Server) ShutdownWithContext(ctx context.Context) error {
	return s.srv.ShutdownWithContext(ctx)
}

// call is one request being handled. Everything in it is copied out of
// fasthttp's buffers, except ctx itself, which never leaves the handler.
type call struct {
	s       *Server
	ctx     *fasthttp.RequestCtx
	route   string // the matched route's template: the metric label
	method  string
	who     principal
	project shard.ProjectID
	strong  bool // a linearizable read (the default; not ?consistency=stale)
	params  [pathParamsMax]string
	body    []byte
}

// Handle is the fasthttp handler.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	c := &call{s: s, ctx: ctx, route: routeUnmatched}
	if err := s.dispatch(c); err != nil {
		c.fail(err)
	}
	s.metrics.observe(ctx, c.route, methodLabel(c.method), time.Since(start).Seconds())
}

func (s *Server) dispatch(c *call) *apiError {
	ctx := c.ctx
	method := string(ctx.Method())
	c.method = method
	path := string(ctx.Path())
	segs := splitPath(path)
	var r *route
	var prefixed bool
	if r = match(s.routes.operator, method, segs, &c.params); r == nil {
		rest := segs
		if len(segs) >= 3 && segs[0] == "projects" {
			rest, prefixed = segs[2:], true
		}
		r = match(s.routes.project, method, rest, &c.params)
	}
	if r == nil {
		return errf(http.StatusNotFound, codeNotFound, "no route for "+method+" "+path)
	}
	c.route = r.template
	if prefixed {
		c.route = r.prefixed
	}
	if r.access == accessPublic {
		return r.handle(c)
	}
	if !r.ops && !s.opened.Load() {
		return errf(http.StatusServiceUnavailable, codeUnavailable, "the server is starting; retry shortly")
	}
	strong, err := c.strongRead(r)
	if err != nil {
		return err
	}
	c.strong = strong
	who, err := c.authenticate()
	if err != nil {
		return err
	}
	c.who = who
	if r.access == accessCustomerOnly && who.customer == "" {
		// An Access Key and the operator token have no customer: whose
		// wallets would these be?
		return denied("only a Customer Key may call this endpoint; list a customer's wallets at /customers/{customerId}/wallets")
	}
	switch {
	case r.access == accessOperator || prefixed:
		if !who.operator {
			return denied("this route needs the operator token")
		}
		if prefixed {
			p, ok := shard.ParseProjectID(segs[1])
			if !ok || !c.projectExists(p) {
				return notFound(shard.ProjectNotFound)
			}
			c.project = p
		}
	case who.operator:
		return denied("the operator token calls project endpoints under /projects/{projectId}")
	case who.customer != "":
		if r.access != accessCustomer && r.access != accessCustomerOnly {
			return denied("a Customer Key may not call this endpoint")
		}
		c.project = who.project
	default:
		c.project = who.project
	}
	if r.scope != nil {
		if err := c.confirmRead(r, strong); err != nil {
			return err
		}
	}
	if body := ctx.PostBody(); len(body) > 0 {
		c.body = append([]byte(nil), body...) // out of fasthttp's pooled buffer
	}
	return r.handle(c)
}

// authenticate checks the request's key against this node's key cache.
// A key pair this node does not know may have just been made through
// another: the meta group is brought up to date once before it is refused.
func (c *call) authenticate() (principal, *apiError) {
	header := c.ctx.Request.Header.Peek("Authorization")
	who, err := authenticate(header, c.s.cfg.OperatorToken, c.s.node, &c.s.tokens)
	if err != nil && err.code == codeKeyPairNotFound && c.s.node.CatchUpMeta(proposeCtx) == nil {
		who, err = authenticate(header, c.s.cfg.OperatorToken, c.s.node, &c.s.tokens)
	}
	return who, err
}

// projectExists is ProjectExists, asked again after catching up with the
// meta group when this node does not know the project.
func (c *call) projectExists(p shard.ProjectID) bool {
	if c.s.node.ProjectExists(p) {
		return true
	}
	return c.s.node.CatchUpMeta(proposeCtx) == nil && c.s.node.ProjectExists(p)
}

// strongRead tells whether a read route is read linearizably: the
// default, or ?consistency=strong; ?consistency=stale reads this node's
// state as it is, without asking the leaders (faster, and it works without
// a quorum). Writes need no round before them: the log orders them, and
// each is checked when it applies.
func (c *call) strongRead(r *route) (bool, *apiError) {
	if r.scope == nil {
		return false, nil
	}
	switch v := c.ctx.QueryArgs().Peek("consistency"); string(v) {
	case "stale":
		return false, nil
	case "", "strong":
		return true, nil
	default:
		return false, badData("consistency must be strong (the default) or stale, not " + strconv.Quote(string(v)))
	}
}

// confirmRead brings the groups a read touches up to date (strong reads
// only), with the group of a Customer Key's customer, and then checks
// again what may have changed meanwhile: the key pair (a revocation in any
// of those groups reaches the key cache) and the customer's status.
func (c *call) confirmRead(r *route, strong bool) *apiError {
	if strong {
		scope := r.scope(c)
		if c.who.customer != "" {
			scope |= c.s.node.CustomerScope(c.project, c.who.customer)
		}
		if err := c.s.node.Confirm(proposeCtx, scope); err != nil {
			return errf(http.StatusServiceUnavailable, codeUnavailable, "no leader confirmed the read (no quorum?); retry, or read with ?consistency=stale")
		}
		if !c.who.operator {
			if _, live := c.s.node.KeyPair(c.who.keyPair); !live {
				return unauth(codeKeyPairNotFound, "the key pair of this key does not exist or was deleted")
			}
		}
	}
	if c.who.customer != "" {
		return c.checkCustomerLive()
	}
	return nil
}

// checkCustomerLive refuses the key of a Suspended customer (until it is
// resumed) or a Deleted one (for good).
func (c *call) checkCustomerLive() *apiError {
	cust, ok, err := c.s.node.Customer(proposeCtx, c.project, c.who.customer)
	if err != nil {
		return fromEngine(err)
	}
	switch {
	case ok && cust.Status == shard.CustomerDeleted:
		return denied("the customer of this key is deleted")
	case ok && cust.Status == shard.CustomerSuspended:
		return denied("the customer of this key is suspended; its key works again once the customer is resumed")
	}
	return nil
}

// requestConfig raises the body limit of a batch before fasthttp reads the
// body (its other limits stay the server's).
func (s *Server) requestConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	return fasthttp.RequestConfig{MaxRequestBodySize: s.bodyMax(h)}
}

// bodyMax is the body limit of a request: BatchBodyBytesMax for
// POST /transactions/batch (also under /projects/{projectId}), else
// BodyBytesMax.
func (s *Server) bodyMax(h *fasthttp.RequestHeader) int {
	uri := h.RequestURI()
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	if h.IsPost() && bytes.HasSuffix(uri, []byte("/transactions/batch")) {
		return s.cfg.BatchBodyBytesMax
	}
	return s.cfg.BodyBytesMax
}

// byteSize writes a byte count the way limits are usually given.
func byteSize(n int) string {
	if n%(1<<20) == 0 {
		return strconv.Itoa(n>>20) + " MiB"
	}
	if n%(1<<10) == 0 {
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n) + " bytes"
}

// handleTransportError answers requests fasthttp could not read.
func (s *Server) handleTransportError(ctx *fasthttp.RequestCtx, err error) {
	c := &call{s: s, ctx: ctx}
	defer s.metrics.observe(ctx, routeUnmatched, "other", 0)
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		c.fail(errf(http.StatusRequestEntityTooLarge, codeLimitExceeded, "the body is larger than "+byteSize(s.bodyMax(&ctx.Request.Header))))
		return
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) || errors.Is(err, fasthttp.ErrSmallReadBuffer) {
		c.fail(errf(http.StatusRequestHeaderFieldsTooLarge, codeLimitExceeded, "the request line and headers must fit in 4 KiB"))
		return
	}
	// A fixed message: fasthttp's error can quote the request's headers,
	// Authorization included, and an answer must never echo a key.
	c.fail(badData("the request is not valid HTTP/1.1"))
}

// reply writes a JSON answer.
func (c *call) reply(status int, v any) *apiError {
	var b []byte
	if tx, ok := v.(txJSON); ok { // the hot answer: no reflection
		b = tx.appendJSON(make([]byte, 0, 256))
	} else {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return errf(http.StatusInternalServerError, codeUnknown, "encoding the answer: "+err.Error())
		}
	}
	c.send(status, "application/json", b)
	return nil
}

// send writes an answer; every answer goes out through here.
func (c *call) send(status int, contentType string, body []byte) {
	c.ctx.SetStatusCode(status)
	c.ctx.SetContentType(contentType)
	c.ctx.SetBody(body)
}

func (c *call) fail(e *apiError) {
	if e.status == http.StatusTooManyRequests {
		c.ctx.Response.Header.Set("Retry-After", "1")
	}
	c.reply(e.status, errorJSON{Status: e.code, Message: e.msg})
}

// query returns a copied query parameter.
func (c *call) query(name string) (string, bool) {
	args := c.ctx.QueryArgs()
	if !args.Has(name) {
		return "", false
	}
	return strings.Clone(string(args.Peek(name))), true
}

// proposeCtx is the context of every write. Not the fasthttp RequestCtx:
// its Done closes when the server starts shutting down, which would cut
// writes in flight to 202 Waiting exactly when a graceful shutdown promises
// to finish them. The engine bounds the wait itself (ApplyTimeout).
var proposeCtx = context.Background()

// written answers a write: the mapped engine error, the mapped refusal,
// or 201 when it created its object (200 otherwise) with view(r.Value).
func (c *call) written(r shard.Result, err error, view func(any) any) *apiError {
	if err != nil {
		return fromEngine(err)
	}
	if r.Code != shard.OK {
		return c.refused(r)
	}
	status := http.StatusOK
	if r.Created {
		status = http.StatusCreated
	}
	return c.reply(status, view(r.Value))
}

// replyFound answers 200 with view(v), or the not-found code.
func replyFound[T, J any](c *call, v T, ok bool, missing shard.Code, view func(T) J) *apiError {
	if !ok {
		return notFound(missing)
	}
	return c.reply(http.StatusOK, view(v))
}
