package shard

import (
	"bytes"
	"fmt"
	"testing"
)

// With every key hashing alike, customers and referenceIds of two projects
// are still told apart, retries still find their record, and a snapshot
// round trip rebuilds the same lookups: the hash only saves memory.
func TestKeyIndexSurvivesHashCollisions(t *testing.T) {
	keyHash = func(ProjectID, string) uint64 { return 42 }
	defer func() { keyHash = fnvKeyHash }()

	h := newHarness(t, 2)
	p1, p2 := h.project(), h.project()
	a1, a2 := h.asset(p1, "A"), h.asset(p2, "A")
	var w1, w2 []WalletID
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("c%d", i)
		h.customer(p1, id)
		h.customer(p2, id) // the same id in another project is another customer
		w1 = append(w1, h.wallet(p1, id, a1))
		w2 = append(w2, h.wallet(p2, id, a2))
	}
	for i := 0; i < 20; i++ {
		ref := fmt.Sprintf("r%d", i)
		if r := h.tx(p1, ref, Op{Type: OpIssue, Destination: w1[i], Amount: int64(i + 1)}); r.Code != OK {
			t.Fatalf("p1 %s: %s", ref, r.Code)
		}
		if r := h.tx(p2, ref, Op{Type: OpIssue, Destination: w2[i], Amount: int64(100 + i)}); r.Code != OK {
			t.Fatalf("p2 %s: %s", ref, r.Code)
		}
	}
	check := func(m *Machine) {
		for i := 0; i < 20; i++ {
			ref := fmt.Sprintf("r%d", i)
			for _, c := range []struct {
				p    ProjectID
				want int64
			}{{p1, int64(i + 1)}, {p2, int64(100 + i)}} {
				s := m.Shards[referenceShard(c.p, ref, 2)]
				tx, ok := s.TxByReference(c.p, ref)
				if !ok || tx.Ops[0].Amount != c.want || tx.Project != c.p {
					t.Fatalf("project %d %s: %+v %v", c.p, ref, tx, ok)
				}
				cs := m.Shards[customerShard(c.p, fmt.Sprintf("c%d", i), 2)]
				if v, ok := cs.Customer(c.p, fmt.Sprintf("c%d", i)); !ok || v.ID != fmt.Sprintf("c%d", i) {
					t.Fatalf("customer c%d of project %d: %+v %v", i, c.p, v, ok)
				}
			}
			if _, ok := m.Shards[referenceShard(p1, "nope", 2)].TxByReference(p1, "nope"); ok {
				t.Fatal("found a referenceId never used")
			}
		}
	}
	check(h.m)
	if r := h.tx(p2, "r7", Op{Type: OpIssue, Destination: w2[0], Amount: 1}); r.Code != DuplicateReferenceID || r.Value.(*Tx).Project != p2 {
		t.Fatalf("retry in p2: %s %+v", r.Code, r.Value)
	}
	var buf bytes.Buffer
	if _, err := h.m.Freeze().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	m2, err := ReadMachine(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	check(m2)
}
