package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Config configures a Client.
type Config struct {
	// Server is the base URL of any node, e.g. http://127.0.0.1:8080.
	Server string
	// Token is an Access Key, a Customer Key, or the operator token.
	Token string
	// Conns bounds the keep-alive connections to the server (default 64).
	Conns int
	// Timeout bounds one request when the context has no earlier
	// deadline (default 30 s).
	Timeout time.Duration
	// Batch, if Window > 0, turns on auto-batching: CreateTransaction
	// calls made within Window of each other go as one
	// POST /transactions/batch (batcher.go).
	Batch BatchConfig
}

// BatchConfig configures auto-batching.
type BatchConfig struct {
	// Window is how long the first call of a batch waits for others
	// (a few hundred µs is a good start); 0 turns auto-batching off.
	Window time.Duration
	// MaxItems sends a batch at once when it holds this many (default
	// and most 10,000).
	MaxItems int
}

// DefaultBatchWindow is a batch window that costs a lone caller little and
// lets busy ones share requests.
const DefaultBatchWindow = 300 * time.Microsecond

// Client calls one cloudwallet server. It is safe for concurrent use; make
// one per server and token, and Close it when done.
type Client struct {
	hc      *fasthttp.HostClient // safe for concurrent use
	base    string               // scheme://host, read-only
	auth    string               // "Bearer " + token, read-only
	timeout time.Duration        // read-only
	batch   *batcher             // nil without auto-batching; owns its own state
}

// New returns a client of cfg.Server.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("cloudwallet: server %q is not a URL like http://127.0.0.1:8080", cfg.Server)
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	c := &Client{
		hc: &fasthttp.HostClient{
			Addr:                     u.Host,
			IsTLS:                    u.Scheme == "https",
			MaxConns:                 cfg.Conns,
			MaxIdleConnDuration:      time.Minute,
			NoDefaultUserAgentHeader: true,
			MaxConnWaitTimeout:       cfg.Timeout,
		},
		base:    u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/"),
		auth:    "Bearer " + cfg.Token,
		timeout: cfg.Timeout,
	}
	if u.Port() == "" {
		c.hc.Addr = u.Host + map[bool]string{true: ":443", false: ":80"}[c.hc.IsTLS]
	}
	if cfg.Batch.Window > 0 {
		if cfg.Batch.MaxItems <= 0 || cfg.Batch.MaxItems > BatchItemsMax {
			cfg.Batch.MaxItems = BatchItemsMax
		}
		c.batch = newBatcher(c, cfg.Batch)
	}
	return c, nil
}

// Close stops the batcher (calls waiting in it end with ErrClosed) and
// closes idle connections.
func (c *Client) Close() {
	if c.batch != nil {
		c.batch.close()
	}
	c.hc.CloseIdleConnections()
}

// ErrClosed: the client was closed.
var ErrClosed = errors.New("cloudwallet: the client is closed")

// answer is one HTTP answer: its status and a copy of its body.
type answer struct {
	status int
	body   []byte
}

// send makes one HTTP request; body may be nil. An error means no answer
// came (the request may or may not have reached the server).
func (c *Client) send(ctx context.Context, method, path string, body []byte) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, err
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(c.base + path)
	req.Header.Set("Authorization", c.auth)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.hc.DoDeadline(req, resp, deadline); err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode(), body: append([]byte(nil), resp.Body()...)}, nil
}

// Raw makes one request as is: body (nil: none) sent as JSON, the status
// and a copy of the answer returned, no retry and no decoding. It is for
// callers that build their own bodies, like the load generator, which
// shares its machine with the server it measures.
func (c *Client) Raw(ctx context.Context, method, path string, body []byte) (status int, answer []byte, err error) {
	a, err := c.send(ctx, method, path, body)
	return a.status, a.body, err
}

// call sends v as JSON (nil: no body) and decodes a 2xx answer into out
// (nil: ignored). Any other answer is an *APIError. Reads and writes that
// are idempotent by nature (a PUT, a GET) are asked again while no answer
// comes or the server says 503, until ctx ends, or for a context without
// a deadline, until Config.Timeout has passed.
func (c *Client) call(ctx context.Context, method, path string, v, out any) error {
	return c.callRetrying(ctx, method, path, v, out, method == "GET" || method == "PUT")
}

// callRetrying is call, with retry saying whether the call may be made
// again on an unclear answer (it is idempotent).
func (c *Client) callRetrying(ctx context.Context, method, path string, v, out any, retry bool) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return fmt.Errorf("cloudwallet: encoding the request: %w", err)
		}
	}
	for round := 0; ; round++ {
		a, err := c.send(ctx, method, path, body)
		if err == nil && a.status/100 == 2 {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(a.body, out); err != nil {
				return fmt.Errorf("cloudwallet: %s %s: decoding the answer: %w", method, path, err)
			}
			return nil
		}
		unclear := err != nil || a.status == 503
		if !retry || !unclear {
			if err != nil {
				return fmt.Errorf("cloudwallet: %s %s: %w", method, path, err)
			}
			return apiError(a)
		}
		if !sleep(ctx, nil, backoff(round)) {
			if err != nil {
				return fmt.Errorf("cloudwallet: %s %s: %w (after retries: %w)", method, path, err, ctx.Err())
			}
			return apiError(a)
		}
	}
}

// backoff is the wait before retry round+1: 10 ms, doubling, at most 1 s.
func backoff(round int) time.Duration {
	if round >= 7 {
		return time.Second
	}
	return 10 * time.Millisecond << round
}

// sleep waits d, or until ctx ends or stop closes (false).
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}

// apiError decodes an error answer: {"status":CODE,"message":...}.
func apiError(a answer) *APIError {
	var e struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if json.Unmarshal(a.body, &e) != nil || e.Status == "" {
		e.Status, e.Message = CodeUnknown, strings.TrimSpace(string(a.body))
	}
	return &APIError{HTTPStatus: a.status, Code: e.Status, Message: e.Message, OperationIndex: NoOperation}
}

// pathEscape escapes one path segment (customer ids may hold ':' or '@').
func pathEscape(s string) string { return url.PathEscape(s) }
