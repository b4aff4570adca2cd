package bench

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// client sends requests to one server over up to conns keep-alive
// connections. fasthttp's client keeps the load generator's own CPU cost
// low: it shares the machine with the server it measures.
type client struct {
	hc    *fasthttp.HostClient
	base  string // scheme://host
	token string
}

func newClient(server, token string, conns int) (*client, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bench: server %q is not a URL like http://127.0.0.1:8080", server)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("bench: only http:// servers (got %s)", u.Scheme)
	}
	return &client{
		hc: &fasthttp.HostClient{
			Addr:                          u.Host,
			MaxConns:                      conns,
			ReadTimeout:                   60 * time.Second,
			WriteTimeout:                  60 * time.Second,
			MaxIdleConnDuration:           time.Minute,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			MaxConnWaitTimeout:            time.Minute,
		},
		base:  "http://" + u.Host,
		token: "Bearer " + token,
	}, nil
}

// do sends one request; body may be nil. It returns the status and a copy
// of the answer.
func (c *client) do(method, path string, body []byte) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(c.base + path)
	req.Header.Set("Authorization", c.token)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if err := c.hc.Do(req, resp); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// json sends v as JSON and decodes a 2xx answer into out (if not nil).
func (c *client) json(method, path string, v, out any) error {
	var body []byte
	if v != nil {
		body, _ = json.Marshal(v)
	}
	status, ans, err := c.do(method, path, body)
	// Setup and checks are not measured: an answer that says to retry
	// (503 during an election, 429 when a queue is full) is retried, for
	// up to about 13 s. A 409 on a retry means the first try applied (a
	// referenceId or a customer id already there); a wallet made twice is
	// one more wallet, never funded.
	for wait := 50 * time.Millisecond; err == nil && (status == 503 || status == 429) && wait <= 8*time.Second; wait *= 2 {
		time.Sleep(wait)
		if status, ans, err = c.do(method, path, body); status == 409 {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, status, strings.TrimSpace(string(ans)))
	}
	if out != nil {
		if err := json.Unmarshal(ans, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}
