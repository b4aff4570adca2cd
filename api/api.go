package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed openapi.yaml
var openapiYAML []byte

//go:embed docs.html
var docsHTML []byte

var (
	once    sync.Once
	docJSON []byte
	doc     map[string]any
	docErr  error
)

func load() {
	once.Do(func() {
		if docErr = yaml.Unmarshal(openapiYAML, &doc); docErr != nil {
			docErr = fmt.Errorf("api: openapi.yaml: %w", docErr)
			return
		}
		docJSON, docErr = json.Marshal(doc)
	})
}

// OpenAPIJSON is the OpenAPI 3.1 document as JSON, as /openapi.json serves it.
func OpenAPIJSON() ([]byte, error) {
	load()
	return docJSON, docErr
}

// DocsHTML is the /docs page: it renders /openapi.json in the browser with
// no network access beyond this server.
func DocsHTML() []byte { return docsHTML }

// Operations lists the document's operations as "METHOD /path", sorted.
func Operations() ([]string, error) {
	load()
	if docErr != nil {
		return nil, docErr
	}
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("api: openapi.yaml has no paths")
	}
	var ops []string
	for path, item := range paths {
		methods, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("api: path %s is not an object", path)
		}
		for m := range methods {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options":
				ops = append(ops, strings.ToUpper(m)+" "+path)
			}
		}
	}
	sort.Strings(ops)
	return ops, nil
}
