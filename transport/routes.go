package transport

import (
	"strings"

	"github.com/cloudwallet/cloudwallet/engine"
)

// who may call a route.
type access uint8

const (
	accessOperator     access = iota + 1 // operator token only (/projects management)
	accessProject                        // Access Key, or operator under /projects/{id}
	accessCustomer                       // as accessProject, and Customer Keys (handler checks "own")
	accessCustomerOnly                   // Customer Keys only (GET /wallets)
	accessPublic                         // no key: health, docs, metrics (ops.go)
)

type handler func(c *call) *apiError

type route struct {
	method   string
	template string
	prefixed string // the template under /projects/{projectId}, the operator's form
	segs     []string
	access   access
	ops      bool // an operations route: served while starting and shutting down
	// scope names the groups a read route reads, which a strong read
	// confirms first; nil for writes (and operations routes).
	scope  func(c *call) engine.Scope
	handle handler
}

// routeTable holds the API's routes. Templates are the metric labels.
type routeTable struct {
	operator []route // matched against the whole path
	project  []route // matched against the path after an optional /projects/{id}
}

// add adds a write route: no read comes before it.
func (t *routeTable) add(list *[]route, method, template string, a access, h handler) {
	if method == "GET" {
		panic("transport: a GET route needs the groups it reads: use read")
	}
	t.put(list, route{method: method, template: template, access: a, handle: h})
}

// read adds a read route and the groups it reads.
func (t *routeTable) read(list *[]route, template string, a access, scope func(c *call) engine.Scope, h handler) {
	t.put(list, route{method: "GET", template: template, access: a, scope: scope, handle: h})
}

func (t *routeTable) put(list *[]route, r route) {
	r.prefixed, r.segs = "/projects/{projectId}"+r.template, splitPath(r.template)
	*list = append(*list, r)
}

// addOps adds an operations route (ops.go) to the operator table.
func (t *routeTable) addOps(template string, a access, h handler) {
	t.put(&t.operator, route{method: "GET", template: template, access: a, ops: true, handle: h})
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// pathParamsMax bounds the {params} of one route.
const pathParamsMax = 2

// match finds the route for method and segments, filling params.
func match(routes []route, method string, segs []string, params *[pathParamsMax]string) *route {
	for i := range routes {
		r := &routes[i]
		if r.method != method || len(r.segs) != len(segs) {
			continue
		}
		n, ok := 0, true
		for j, s := range r.segs {
			if s[0] == '{' {
				if segs[j] == "" {
					ok = false
					break
				}
				params[n] = segs[j]
				n++
			} else if s != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

// Operations lists every route as "METHOD /template", the way the OpenAPI
// document names them (project routes unprefixed).
func (s *Server) Operations() []string {
	var ops []string
	for _, list := range [][]route{s.routes.operator, s.routes.project} {
		for _, r := range list {
			ops = append(ops, r.method+" "+r.template)
		}
	}
	return ops
}
