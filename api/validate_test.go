package api

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// The served document is valid OpenAPI 3.1: checked by a real validator
// (pb33f/libopenapi-validator, against the 3.1 meta-schema), as a client
// generator would read it.
func TestOpenAPIDocumentIsValid31(t *testing.T) {
	b, err := OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("version %q, want 3.1.0", v)
	}
	if _, errs := doc.BuildV3Model(); errs != nil {
		t.Fatalf("the document does not build: %v", errs)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  at %s (%s): %s", se.FieldPath, se.KeywordLocation, se.Reason)
			}
		}
	}
}

// What client generators need from the document (a generated client's
// types depend on it): a unique operationId and one tag per operation,
// enums as named string schemas, and every object schema that answers
// listing what the server always sends as required.
func TestOpenAPIDocumentSuitsGenerators(t *testing.T) {
	b, err := OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tags       []struct{ Name string }
		Paths      map[string]map[string]json.RawMessage
		Components struct {
			Schemas map[string]map[string]any
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	tags := map[string]bool{}
	for _, tag := range doc.Tags {
		tags[tag.Name] = true
	}
	ids := map[string]string{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				OperationID string `json:"operationId"`
				Tags        []string
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", where)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s and %s share operationId %s", where, other, op.OperationID)
			}
			ids[op.OperationID] = where
			if len(op.Tags) != 1 || !tags[op.Tags[0]] {
				t.Errorf("%s: tags %v, want one declared resource tag", where, op.Tags)
			}
		}
	}
	for _, enum := range []string{"OperationType", "ErrorCode", "WalletStatus", "CustomerStatus", "TransactionStatus", "EntryType"} {
		s := doc.Components.Schemas[enum]
		if s["type"] != "string" || s["enum"] == nil {
			t.Errorf("schema %s: want a named string enum, got %v", enum, s)
		}
	}
	// A value in two enums makes oapi-codegen prefix both types'
	// constants with their names, renaming a generated client's
	// constants (an inline enum counts too). Named enums share values
	// only where they have from the start: generated clients already use
	// those prefixed.
	shared := map[[2]string]bool{{"EntryType", "OperationType"}: true, {"CustomerStatus", "WalletStatus"}: true}
	owner := map[string]string{}
	var enums func(where string, v any)
	enums = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			values, _ := v["enum"].([]any)
			for _, e := range values {
				s, ok := e.(string)
				if !ok {
					continue
				}
				if other, dup := owner[s]; dup && other != where && !shared[[2]string{other, where}] {
					t.Errorf("enum value %q is in %s and %s", s, other, where)
				}
				owner[s] = where
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				enums(where+"."+k, v[k])
			}
		case []any:
			for _, c := range v {
				enums(where, c)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(doc.Components.Schemas)) {
		s := doc.Components.Schemas[name]
		values, _ := s["enum"].([]any)
		enums(name, map[string]any{"enum": values}) // a named enum's own values, under its name
		delete(s, "enum")
		enums(name, s)
		if values != nil {
			s["enum"] = values
		}
	}
	var paths map[string]any
	if err := json.Unmarshal(b, &struct{ Paths *map[string]any }{&paths}); err != nil {
		t.Fatal(err)
	}
	enums("paths", paths)
	for name, s := range doc.Components.Schemas {
		if s["type"] == "object" && s["properties"] != nil && s["required"] == nil {
			t.Errorf("schema %s lists no required fields", name)
		}
	}
	for _, name := range []string{"Amount", "AmountInput"} {
		if s := doc.Components.Schemas[name]; s["type"] != "integer" || s["format"] != "int64" {
			t.Errorf("schema %s: want integer int64, got %v", name, s)
		}
	}
}
