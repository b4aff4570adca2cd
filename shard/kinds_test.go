package shard

import "testing"

// The kind table declares every kind completely: a name (unique: it is a
// metric label and a log word), an apply function, and a home that agrees
// with what its fields carry.
func TestKindTableIsComplete(t *testing.T) {
	names := map[string]Kind{}
	for k := CmdCreateProject; k < kindEnd; k++ {
		spec := kinds[k]
		if spec.name == "" || spec.apply == nil || spec.fields == nil {
			t.Errorf("kind %d is not fully declared: %+v", k, spec)
		}
		if other, dup := names[spec.name]; dup {
			t.Errorf("kinds %d and %d share the name %q", k, other, spec.name)
		}
		names[spec.name] = k
		if spec.counts != HeldNone && spec.home == homeMeta {
			t.Errorf("%s counts held objects but lives in the meta partition", spec.name)
		}
	}
	if Kind(0).Valid() || kindEnd.Valid() || Kind(0).String() != "unknown" {
		t.Fatal("kinds outside the table must be invalid")
	}
}
