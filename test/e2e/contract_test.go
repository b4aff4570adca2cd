package e2e

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/cloudwallet/cloudwallet/api"
)

// Every answer an end-to-end test receives is checked against the OpenAPI
// document the server serves: the status is one the operation declares,
// the content type is declared, and the body matches the schema. The
// document and the server can then not drift apart unnoticed.

var contract struct {
	once sync.Once
	v    validator.Validator
	err  error
}

func contractValidator() (validator.Validator, error) {
	contract.once.Do(func() {
		b, err := api.OpenAPIJSON()
		if err != nil {
			contract.err = err
			return
		}
		doc, err := libopenapi.NewDocument(b)
		if err != nil {
			contract.err = err
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			contract.err = errs[0]
			return
		}
		contract.v = v
	})
	return contract.v, contract.err
}

// operatorRoute matches the operator's own routes under /projects/{id}
// (the project itself, its name, its key pairs); any other path under the
// prefix is a project route, documented without the prefix.
var (
	projectPrefix = regexp.MustCompile(`^/projects/[^/]+(/.*)?$`)
	operatorRoute = regexp.MustCompile(`^/projects/[^/]+(/name|/key-pairs(/[^/]+)?)?$`)
)

// documentedPath is the path as the document names it.
func documentedPath(path string) string {
	if m := projectPrefix.FindStringSubmatch(path); m != nil && !operatorRoute.MatchString(path) {
		return m[1]
	}
	return path
}

// checkContract validates one answer. An answer to a path or method the
// document does not have (the tests send some on purpose) is checked only
// for the error shape every answer has.
func checkContract(t testing.TB, method, path string, hr *http.Response, body []byte) {
	t.Helper()
	v, err := contractValidator()
	if err != nil {
		t.Errorf("loading the OpenAPI document: %v", err)
		return
	}
	u := *hr.Request.URL
	u.Path = documentedPath(u.Path)
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		return // a path the tests made unparsable on purpose
	}
	resp := &http.Response{StatusCode: hr.StatusCode, Header: hr.Header, Body: io.NopCloser(bytes.NewReader(body)), Request: req}
	ok, errs := v.ValidateHttpResponse(req, resp)
	if ok {
		return
	}
	for _, e := range errs {
		if e.IsPathMissingError() || e.IsOperationMissingError() {
			if hr.StatusCode != http.StatusNotFound && hr.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%s %s: answered %d on a path the document does not have", method, clip(path), hr.StatusCode)
			}
			return
		}
	}
	var why []string
	for _, e := range errs {
		why = append(why, e.Message+": "+e.Reason)
		for _, se := range e.SchemaValidationErrors {
			why = append(why, "  "+se.FieldPath+": "+se.Reason)
		}
	}
	t.Errorf("%s %s: the answer breaks the OpenAPI document:\n%s\nstatus %d, body %s", method, clip(path),
		strings.Join(why, "\n"), hr.StatusCode, clip(string(body)))
}
