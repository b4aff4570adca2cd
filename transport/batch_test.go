package transport

import "testing"

// The scan finds each item exactly where it lies in the body, whatever
// whitespace surrounds it, so an item is parsed straight out of the body.
func TestScanBatchFindsEachItemInTheBody(t *testing.T) {
	body := []byte("{ \"transactions\" :\n [ {\"a\":\"x,]\"} ,\n\t{\"b\":[2, {}]}\n ] }\n")
	spans, err := scanBatch(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"a":"x,]"}`, `{"b":[2, {}]}`}
	if len(spans) != len(want) {
		t.Fatalf("%d items, want %d", len(spans), len(want))
	}
	for i, sp := range spans {
		if got := string(body[sp.start:sp.end]); got != want[i] {
			t.Errorf("item %d: %q, want %q", i, got, want[i])
		}
	}
}
