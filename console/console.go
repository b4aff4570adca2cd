package console

import (
	"embed"
	"path"
)

//go:embed static
var files embed.FS

// File returns an embedded file of the console by name ("" is the page)
// and its content type; ok is false for a name it does not have.
func File(name string) (body []byte, contentType string, ok bool) {
	if name == "" {
		name = "index.html"
	}
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".css":  "text/css; charset=utf-8",
	}
	ct, known := types[path.Ext(name)]
	if !known || path.Base(name) != name {
		return nil, "", false
	}
	b, err := files.ReadFile("static/" + name)
	if err != nil {
		return nil, "", false
	}
	return b, ct, true
}
