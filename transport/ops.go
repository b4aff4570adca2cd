package transport

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/cloudwallet/cloudwallet/api"
	"github.com/cloudwallet/cloudwallet/console"
	"github.com/cloudwallet/cloudwallet/engine"
)

// The operations endpoints: health, metrics and the API's own docs. They
// need no key (except /metrics with Config.MetricsAuth) and work while the
// node is starting or shutting down.

func (s *Server) registerOpsRoutes() {
	t := &s.routes
	t.addOps("/livez", accessPublic, livez)
	t.addOps("/readyz", accessPublic, readyz)
	metricsAccess := accessPublic
	if s.cfg.MetricsAuth {
		metricsAccess = accessOperator // checked by dispatch like any operator route
	}
	t.addOps("/metrics", metricsAccess, s.metricsHandler())
	t.addOps("/openapi.json", accessPublic, openapiJSON)
	t.addOps("/docs", accessPublic, docs)
	t.addOps("/console", accessPublic, consolePage)
	t.addOps("/console/{file}", accessPublic, consolePage)
	t.addOps("/cluster", accessOperator, clusterStatus)
	t.add(&t.operator, "DELETE", "/cluster/nodes/{nodeId}", accessOperator, removeNode)
	t.operator[len(t.operator)-1].ops = true
}

// clusterStatus shows every node of every group as the nodes themselves
// see it (`cloudwallet cluster status`).
func clusterStatus(c *call) *apiError {
	st, err := c.s.node.Status()
	if err != nil {
		return errf(http.StatusServiceUnavailable, codeUnavailable, err.Error())
	}
	return c.reply(http.StatusOK, st)
}

// removeWait bounds how long `cluster remove` waits for the node's
// replicas to move; the removal goes on after it, and asking again waits
// again.
const removeWait = 2 * time.Minute

// removeNode takes a node out of the cluster (`cloudwallet cluster remove`).
func removeNode(c *call) *apiError {
	id := c.params[0]
	ctx, cancel := context.WithTimeout(context.Background(), removeWait)
	defer cancel()
	if err := c.s.node.RemoveNode(ctx, id); err != nil {
		if errors.Is(err, engine.ErrNoSuchNode) {
			return errf(http.StatusNotFound, codeNotFound, "no node "+id+" in the cluster")
		}
		if errors.Is(err, engine.ErrLastNode) {
			return invalid("node " + id + " is the last node of the cluster (or every other one is leaving): nothing would hold its groups")
		}
		return errf(http.StatusServiceUnavailable, codeUnavailable, "removing "+id+": "+err.Error())
	}
	return c.reply(http.StatusOK, map[string]string{"removed": id})
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
	serving := engine.Check{Name: "http", OK: true, Detail: "serving"}
	switch {
	case c.s.draining.Load():
		serving.OK, serving.Detail = false, "shutting down"
	case !c.s.opened.Load():
		serving.OK, serving.Detail = false, "starting"
	}
	var lines strings.Builder
	var failed []string
	for _, ch := range append(c.s.node.Checks(), serving) {
		mark := "[+]"
		if !ch.OK {
			mark = "[-]"
			failed = append(failed, ch.Name)
		}
		lines.WriteString(mark + ch.Name + " " + ch.Detail + "\n")
	}
	status, summary := http.StatusOK, "ok\n"
	if len(failed) > 0 {
		status, summary = http.StatusServiceUnavailable, "not ready: "+strings.Join(failed, ", ")+"\n"
	}
	if _, verbose := c.query("verbose"); verbose {
		summary = lines.String() + summary
	}
	c.text(status, summary)
	return nil
}

func (s *Server) metricsHandler() handler {
	if s.cfg.Metrics == nil {
		return func(c *call) *apiError { return errf(http.StatusNotFound, codeNotFound, "metrics are not enabled") }
	}
	h := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	}))
	return func(c *call) *apiError {
		h(c.ctx)
		return nil
	}
}

func openapiJSON(c *call) *apiError {
	b, err := api.OpenAPIJSON()
	if err != nil {
		return errf(http.StatusInternalServerError, codeUnknown, err.Error())
	}
	c.send(http.StatusOK, "application/json", b)
	return nil
}

func docs(c *call) *apiError {
	c.send(http.StatusOK, "text/html; charset=utf-8", api.DocsHTML())
	return nil
}

// consolePage serves the operator console (package console): its page and
// its script and style, all embedded. They hold no data, so they need no
// token; the app signs in with the operator token and calls the API. The
// headers keep the page to this server: no outside script, style, frame
// or connection.
func consolePage(c *call) *apiError {
	name := ""
	if len(c.params) > 0 {
		name = c.params[0]
	}
	body, contentType, ok := console.File(name)
	if !ok {
		return errf(http.StatusNotFound, codeNotFound, "the console has no file "+truncate(name))
	}
	h := &c.ctx.Response.Header
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	c.send(http.StatusOK, contentType, body)
	return nil
}

func (c *call) text(status int, body string) {
	c.send(status, "text/plain; charset=utf-8", []byte(body))
}

// httpMetrics count requests by route template, method and status code.
// Unmatched paths count under the route "unmatched": a path is never a label.
type httpMetrics struct {
	seconds *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) (*httpMetrics, error) {
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
