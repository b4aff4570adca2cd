package console

import (
	"strings"
	"testing"
)

// The page, its script and its style are served with their types; any
// other name is not, nor is a path out of the embedded directory.
func TestFilesAreTheConsolesOnly(t *testing.T) {
	for name, want := range map[string]string{"": "text/html", "index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"} {
		body, ct, ok := File(name)
		if !ok || len(body) == 0 || !strings.HasPrefix(ct, want) {
			t.Errorf("%q: ok %v, %d bytes, type %q, want %s", name, ok, len(body), ct, want)
		}
	}
	for _, name := range []string{"nope.js", "../console.go", "static/app.js", "console.go", "app.js.map"} {
		if _, _, ok := File(name); ok {
			t.Errorf("%q is served", name)
		}
	}
	// The page loads nothing from elsewhere.
	page, _, _ := File("")
	script, _, _ := File("app.js")
	for _, b := range [][]byte{page, script} {
		if strings.Contains(string(b), "http://") || strings.Contains(string(b), "https://") {
			t.Error("the console names an outside URL")
		}
	}
}
