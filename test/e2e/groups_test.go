package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// walletGroup is the shard group of a wallet id in a cluster of groups of
// two shards: w + 2 base32 digits of shard + index.
func walletGroup(t *testing.T, w string) int {
	t.Helper()
	const digits = "0123456789abcdefghjkmnpqrstvwxyz"
	if len(w) != 10 || w[0] != 'w' {
		t.Fatalf("wallet id %q", w)
	}
	shard := strings.IndexByte(digits, w[1])*32 + strings.IndexByte(digits, w[2])
	return shard / 2
}

// waitLeadersSpread waits until every group is led by its preferred
// leader in the layout (waitLeadersPlaced), which puts the two data groups
// on different nodes, and returns the node that leads group 1.
func (c *cluster) waitLeadersSpread() int {
	c.t.Helper()
	st := c.waitLeadersPlaced()
	if len(st.Groups) != 2 || st.Groups[0].Leader == st.Groups[1].Leader {
		c.t.Fatalf("two groups should be led by two nodes: %+v", st.Groups)
	}
	for i, id := range c.ids {
		if id == st.Groups[1].Leader {
			return i
		}
	}
	c.t.Fatalf("leader %q of group 1 is not a known node", st.Groups[1].Leader)
	return -1
}

// Three nodes, two shard groups of two shards each: leadership spreads
// over the nodes; writes through every node, many of them transfers
// between wallets of different groups (two-phase commit), give definite
// answers; a retry finds the stored transaction; money is conserved, no
// balance is negative, and every node reads the same wallets, entries
// and transaction list.
func TestClusterShardGroups(t *testing.T) {
	c := startCluster(t, 3, false, "--groups", "2", "--shards", "2")
	lead1 := c.waitLeadersSpread()
	out, err := cli(t, "cluster", "status", "--server", c.nodes[1].url, "--token", c.nodes[1].operator)
	if err != nil || strings.Count(out, "Leader") != 3 {
		t.Fatalf("cluster status should show two groups and the meta group with a leader each: %v\n%s", err, out)
	}

	n1 := c.nodes[0]
	a := c.nodes[1].asset("EUR")
	var ws []string
	inGroup := map[int]int{}
	for i := 0; len(ws) < 8 || inGroup[0] < 2 || inGroup[1] < 2; i++ {
		if i > 64 {
			t.Fatalf("customers never spread over both groups: %v", inGroup)
		}
		s := c.nodes[i%3]
		id := fmt.Sprintf("cust%d", i)
		s.customer(id)
		w := s.wallet(id, a)
		ws = append(ws, w)
		inGroup[walletGroup(t, w)]++
	}
	const funding = 1000
	for i, w := range ws {
		s := c.nodes[i%3]
		s.expect(s.ak("POST", "/transactions", tx(fmt.Sprintf("fund-%d", i), op("Issue", "", w, funding))), 201, "")
	}

	// A transfer across groups is answered at its decision and posted in
	// the other group after the answer: a read right after the answer, on
	// the other nodes, sees all of it, entries included.
	var x, y string // wallets in group 0 and group 1
	for _, w := range ws {
		if walletGroup(t, w) == 0 && x == "" {
			x = w
		} else if walletGroup(t, w) == 1 && y == "" {
			y = w
		}
	}
	bx, by := int64(funding), int64(funding)
	for i := range 10 {
		s := c.nodes[i%3]
		src, dst := x, y
		if i%2 == 1 {
			src, dst = y, x
		}
		amount := int64(1 + i)
		s.expect(s.ak("POST", "/transactions", tx(fmt.Sprintf("across-%d", i), op("Transfer", src, dst, amount))), 201, "")
		if src == x {
			bx, by = bx-amount, by+amount
		} else {
			bx, by = bx+amount, by-amount
		}
		for _, other := range []*server{c.nodes[(i+1)%3], c.nodes[(i+2)%3]} {
			if gx, gy := other.balance(x), other.balance(y); gx != bx || gy != by {
				t.Fatalf("transfer %d answered by node %d; node %s then reads %d and %d, want %d and %d", i, i%3+1, other.url, gx, gy, bx, by)
			}
			entries := other.expect(other.ak("GET", "/wallets/"+dst+"/entries?page=0&pageSize=100", nil), 200, "")
			if !strings.Contains(string(entries.raw), fmt.Sprintf(`"amount":%d`, amount)) {
				t.Fatalf("transfer %d: node %s's entries of %s lack it: %s", i, other.url, dst, entries.raw)
			}
		}
	}

	// Transfers through every node at once, one to four operations each,
	// some bound to fail (more than any balance).
	type result struct {
		ref    string
		status int
		body   string
		across bool // its wallets are in both groups
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	for client := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := c.nodes[client%3]
			rng := rand.New(rand.NewPCG(uint64(client), 7))
			for k := range 40 {
				var ops []map[string]any
				groups := map[int]bool{}
				for range 1 + rng.IntN(4) {
					i := rng.IntN(len(ws))
					src, dst := ws[i], ws[(i+1+rng.IntN(len(ws)-1))%len(ws)]
					amount := 1 + rng.IntN(60)
					if rng.IntN(10) == 0 {
						amount = 5 * funding
					}
					ops = append(ops, op("Transfer", src, dst, amount))
					groups[walletGroup(t, src)], groups[walletGroup(t, dst)] = true, true
				}
				ref := fmt.Sprintf("t-%d-%d", client, k)
				r, err := s.callNoFatal("POST", "/transactions", s.accessKey, tx(ref, ops...))
				if err != nil {
					t.Errorf("%s: %v", ref, err)
					return
				}
				mu.Lock()
				results = append(results, result{ref, r.status, string(r.raw), len(groups) == 2})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	completed, failed, across := 0, 0, 0
	for _, r := range results {
		switch r.status {
		case 201:
			completed++
			if r.across {
				across++
			}
		case 422:
			failed++
		default:
			t.Fatalf("%s: %d %s", r.ref, r.status, r.body)
		}
	}
	if completed < 50 || failed < 5 || across < 20 {
		t.Fatalf("%d completed (%d across groups), %d failed: the mix should have plenty of each", completed, across, failed)
	}
	// A retry through another node answers with the stored transaction.
	first := results[0]
	retry := c.nodes[2].ak("POST", "/transactions", tx(first.ref, op("Issue", "", ws[0], 1)))
	c.nodes[2].expect(retry, 409, "DuplicateReferenceId")
	if !strings.Contains(string(retry.raw), first.ref) {
		t.Fatalf("retry: %s", retry.raw)
	}

	// Conservation on every node: the balances sum to what was issued.
	var total int64
	for _, w := range ws {
		b := n1.balance(w)
		if b < 0 {
			t.Fatalf("wallet %s: balance %d", w, b)
		}
		total += b
	}
	if total != int64(funding*len(ws)) {
		t.Fatalf("balances sum to %d, %d were issued", total, funding*len(ws))
	}
	for _, w := range ws {
		c.sameOnEveryNode("/wallets/" + w)
		c.sameOnEveryNode("/wallets/" + w + "/entries?page=0&pageSize=1000")
	}
	list := c.sameOnEveryNode("/transactions?page=0&pageSize=1000")
	if got, want := strings.Count(list, `"referenceId"`), len(ws)+10+len(results); got != want {
		t.Fatalf("transaction list has %d transactions, want %d (funding, 10 across, the load)", got, want)
	}
	// Operators see the transactions that ran across groups.
	var coordinated float64
	for _, s := range c.nodes {
		coordinated += s.scrape()[series("cloudwallet_transactions_across_groups_total", "result", "answered")]
	}
	if coordinated < float64(across) {
		t.Errorf("cloudwallet_transactions_across_groups_total{result=answered} is %v over the nodes; %d transactions completed across groups", coordinated, across)
	}

	// Every Completed transaction moved its money, and no other did: the
	// balances replay from the transaction list.
	want := replayBalances(t, n1)
	for _, w := range ws {
		if got := n1.balance(w); got != want[w] {
			t.Fatalf("wallet %s: balance %d, the Completed transactions give %d", w, got, want[w])
		}
	}

	// SIGTERM on the node leading group 1 hands that group over first.
	c.nodes[lead1].stop()
	handed := false
	for _, line := range strings.Split(c.nodes[lead1].log(), "\n") {
		handed = handed || (strings.Contains(line, "leadership handed over before stopping") && strings.Contains(line, `"group":1`))
	}
	if !handed {
		t.Fatalf("node %d led group 1 and stopped without handing it over:\n%s", lead1+1, c.nodes[lead1].log())
	}
	other := c.nodes[(lead1+1)%3]
	st, err := c.status(other)
	if err != nil || len(st.Groups) != 2 || st.Groups[1].Leader == "" || st.Groups[1].Leader == c.ids[lead1] {
		t.Fatalf("group 1 right after the handover: %v %+v", err, st)
	}
	other.expect(other.ak("POST", "/transactions", tx("after-handoff", op("Issue", "", ws[0], 1))), 201, "")
}

// kill -9 of the node leading group 1 while transfers, most of them across
// both groups, run through every node: clients retry unclear answers with
// the same referenceId on the next node (a retry of a transaction left
// Waiting by its dead coordinator finishes it), the node comes back with
// its command line, and every answered transaction is on every node
// exactly once with the answered outcome, none left Waiting, money
// conserved, every node identical.
func TestClusterShardGroupsKill9UnderLoad(t *testing.T) {
	c := startCluster(t, 3, false, "--groups", "2", "--shards", "2")
	victim := c.waitLeadersSpread()
	l := startClusterLoad(t, c, 9)
	time.Sleep(1500 * time.Millisecond)
	c.killUnderLoad(l, victim, func(*server) { time.Sleep(3 * time.Second) })
	l.verify(t)
}

// useProject makes a project in groups of the cluster's shard groups,
// through node via, and points every node's Access Key at it: the fixture
// helpers and loads then run in that project.
func (c *cluster) useProject(via, groups int) {
	c.t.Helper()
	n := c.nodes[via]
	p := n.call("POST", "/projects", n.operator, map[string]any{"name": fmt.Sprintf("in-%d-groups", groups), "groups": groups})
	if p.status != 201 || p.num("groups") != int64(groups) {
		c.t.Fatalf("creating a project in %d groups: %d %s", groups, p.status, p.raw)
	}
	kp := n.call("POST", "/projects/"+p.str("id")+"/key-pairs", n.operator, map[string]any{"name": "k"})
	if kp.status != 201 {
		c.t.Fatalf("key pair: %d %s", kp.status, kp.raw)
	}
	for _, s := range c.nodes {
		s.projectID, s.accessKey, s.sigKey = p.str("id"), kp.str("accessKey"), kp.str("signatureKey")
	}
}

// The kill -9 test again, in a project that lives in one of the two
// groups (project affinity, K = 1): all its wallets are in that group,
// no transaction runs across groups, and the same checks hold. The
// project is made through the node leading group 1, and both groups hold
// as many projects (the default one spans both), so it lands in group 1
// (the lowest group would be 0): the node killed leads the project's group.
func TestClusterShardGroupsKill9UnderLoadProjectInOneGroup(t *testing.T) {
	c := startCluster(t, 3, false, "--groups", "2", "--shards", "2")
	victim := c.waitLeadersSpread()
	c.useProject(victim, 1)
	l := startClusterLoad(t, c, 9)
	groups := map[int]bool{}
	for _, w := range l.ws {
		groups[walletGroup(t, w)] = true
	}
	if len(groups) != 1 || !groups[1] {
		t.Fatalf("the wallets of a project in one group, made through the leader of group 1, sit in groups %v", groups)
	}
	time.Sleep(1500 * time.Millisecond)
	c.killUnderLoad(l, victim, func(*server) { time.Sleep(3 * time.Second) })
	l.verify(t)
	var across float64
	for i, s := range c.nodes {
		if i != victim {
			across += s.scrape()[series("cloudwallet_transactions_across_groups_total", "result", "answered")]
		}
	}
	if across != 0 {
		t.Errorf("%v transactions ran across groups in a project of one group", across)
	}
}
