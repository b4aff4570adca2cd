package bench

import (
	"fmt"
	"net/url"
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
