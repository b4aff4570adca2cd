package transport

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cloudwallet/cloudwallet/api"
)

// The router and the OpenAPI document name the same operations: a route
// added without docs, or docs for a route that does not exist, fail here.
func TestRoutesAndOpenAPIAreTheSameSet(t *testing.T) {
	s, err := New(nil, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	routes := s.Operations()
	sort.Strings(routes)
	docs, err := api.Operations()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(docs, routes); diff != "" {
		t.Fatalf("OpenAPI operations (-) vs router routes (+):\n%s", diff)
	}
}

// Every $ref resolves and every {param} of a path is declared.
func TestOpenAPIDocumentIsConsistent(t *testing.T) {
	b, err := api.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if resolve(doc, ref) == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)

	param := regexp.MustCompile(`\{(\w+)\}`)
	for path, item := range doc["paths"].(map[string]any) {
		declared := map[string]bool{}
		collect := func(list any) {
			for _, p := range asList(list) {
				p := p.(map[string]any)
				if ref, ok := p["$ref"].(string); ok {
					p = resolve(doc, ref).(map[string]any)
				}
				if p["in"] == "path" {
					declared[p["name"].(string)] = true
				}
			}
		}
		it := item.(map[string]any)
		collect(it["parameters"])
		for method, op := range it {
			if method == "parameters" {
				continue
			}
			o := op.(map[string]any)
			collect(o["parameters"])
			if _, ok := o["responses"]; !ok {
				t.Errorf("%s %s has no responses", strings.ToUpper(method), path)
			}
		}
		for _, m := range param.FindAllStringSubmatch(path, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %s is not declared", path, m[1])
			}
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func resolve(doc map[string]any, ref string) any {
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}
