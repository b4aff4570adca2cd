package transport

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/cloudwallet/cloudwallet/api"
	"github.com/cloudwallet/cloudwallet/engine"
)

// The operations endpoints: health, metrics and the API's own docs. They
// need no key (except /metrics with Config.MetricsAuth) and work while the
// node is starting or shutting down.

func (s *Server) registerOpsRoutes() {
	t := &s.routes
	t.add(&t.operator, "GET", "/livez", accessPublic, livez)
	t.add(&t.operator, "GET", "/readyz", accessPublic, readyz)
	t.add(&t.operator, "GET", "/metrics", accessPublic, s.metricsHandler())
	t.add(&t.operator, "GET", "/openapi.json", accessPublic, openapiJSON)
	t.add(&t.operator, "GET", "/docs", accessPublic, docs)
}

// Open lets API requests through once the node is ready and the first-run
// setup is done. Until then they answer 503 UNAVAILABLE and /readyz is 503.
func (s *Server) Open() { s.opened.Store(true) }

// Drain starts a shutdown: /readyz answers 503 so load balancers stop
// sending, while requests are still served until Shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

func livez(c *call) *apiError {
	c.text(http.StatusOK, "ok\n")
	return nil
}

// readyz answers 200 when every check passes; ?verbose prints a line per
// check, like Kubernetes' own endpoints.
func readyz(c *call) *apiError {
	checks := c.s.node.Checks()
	http := engine.Check{Name: "http", OK: true, Detail: "serving"}
	switch {
	case c.s.draining.Load():
		http.OK, http.Detail = false, "shutting down"
	case !c.s.opened.Load():
		http.OK, http.Detail = false, "starting"
	}
	var b strings.Builder
	ready := true
	var failed []string
	for _, ch := range append(checks, http) {
		mark := "[+]"
		if !ch.OK {
			mark, ready = "[-]", false
			failed = append(failed, ch.Name)
		}
		b.WriteString(mark + ch.Name + " " + ch.Detail + "\n")
	}
	_, verbose := c.query("verbose")
	status, summary := 200, "ok\n"
	if !ready {
		status, summary = http503, "not ready: "+strings.Join(failed, ", ")+"\n"
	}
	if verbose {
		summary = b.String() + strings.TrimSuffix(summary, "\n") + "\n"
	}
	c.text(status, summary)
	return nil
}

const http503 = http.StatusServiceUnavailable

func (s *Server) metricsHandler() handler {
	if s.cfg.Metrics == nil {
		return func(c *call) *apiError { return errf(http.StatusNotFound, codeNotFound, "metrics are not enabled") }
	}
	h := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	}))
	return func(c *call) *apiError {
		if s.cfg.MetricsAuth {
			who, err := authenticate(c.ctx.Request.Header.Peek("Authorization"), s.cfg.OperatorToken, s.node, &s.tokens)
			if err != nil {
				return err
			}
			if !who.operator {
				return denied("/metrics needs the operator token")
			}
		}
		h(c.ctx)
		return nil
	}
}

func openapiJSON(c *call) *apiError {
	b, err := api.OpenAPIJSON()
	if err != nil {
		return errf(http.StatusInternalServerError, codeUnknown, err.Error())
	}
	c.ctx.SetStatusCode(http.StatusOK)
	c.ctx.SetContentType("application/json")
	c.ctx.SetBody(b)
	return nil
}

func docs(c *call) *apiError {
	c.ctx.SetStatusCode(http.StatusOK)
	c.ctx.SetContentType("text/html; charset=utf-8")
	c.ctx.SetBody(api.DocsHTML())
	return nil
}

func (c *call) text(status int, body string) {
	c.ctx.SetStatusCode(status)
	c.ctx.SetContentType("text/plain; charset=utf-8")
	c.ctx.SetBodyString(body)
}

// httpMetrics count requests by route template, method and status code.
// Unmatched paths count under the route "unmatched": a path is never a label.
type httpMetrics struct {
	seconds *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cloudwallet_http_request_duration_seconds",
			Help:    "HTTP requests by route template, method and status code, and their latency (its _count is the number of requests).",
			Buckets: prometheus.ExponentialBucketsRange(50e-6, 10, 16),
		}, []string{"route", "method", "code"}),
	}
	if reg != nil {
		if err := reg.Register(m.seconds); err != nil {
			return nil, err
		}
	}
	return m, nil
}

const routeUnmatched = "unmatched"

// statusLabels holds the label of every status code, so a request formats none.
var statusLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func methodLabel(m string) string {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS":
		return m
	}
	return "other"
}

func (m *httpMetrics) observe(ctx *fasthttp.RequestCtx, route, method string, seconds float64) {
	code := ctx.Response.StatusCode()
	label := "other"
	if code >= 100 && code < len(statusLabels) {
		label = statusLabels[code]
	}
	m.seconds.WithLabelValues(route, method, label).Observe(seconds)
}
