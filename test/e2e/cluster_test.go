package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cluster is a set of cloudwallet processes on 127.0.0.1, .2, .3, ...
type cluster struct {
	t       *testing.T
	nodes   []*server
	args    [][]string     // each node's extra flags: the same on every restart
	proxies []*faultProxy  // in front of each internal port, if asked for
	ids     map[int]string // node index → Raft server id
}

func nodeIP(i int) string { return fmt.Sprintf("127.0.0.%d", i+1) }

// startCluster starts node 0 (which bootstraps) and joins the others to it.
// With proxies, every node advertises a faultProxy in front of its
// internal port, so the test can cut links.
func startCluster(t *testing.T, n int, proxies bool) *cluster {
	t.Helper()
	c := &cluster{t: t, ids: map[int]string{}}
	base := t.TempDir()
	for i := 0; i < n; i++ {
		ip := nodeIP(i)
		s := &server{t: t, dir: filepath.Join(base, fmt.Sprintf("n%d", i+1)), joined: i > 0}
		s.httpAddr, s.raftAddr = freeAddrOn(t, ip), freeAddrOn(t, ip)
		var args []string
		if proxies {
			p := newFaultProxy(t, ip+":0", s.raftAddr)
			c.proxies = append(c.proxies, p)
			args = append(args, "--advertise", p.addr())
		}
		if i > 0 {
			args = append(args, "--join", c.peerAddr(0), "--cluster-secret-file", filepath.Join(c.nodes[0].dir, "cluster.secret"))
		}
		c.nodes, c.args = append(c.nodes, s), append(c.args, args)
		s.start(args...)
		s.waitReady()
		if i > 0 {
			s.accessKey, s.sigKey, s.projectID = c.nodes[0].accessKey, c.nodes[0].sigKey, c.nodes[0].projectID
		}
	}
	c.waitVoters(n)
	return c
}

// peerAddr is the internal address node i advertises.
func (c *cluster) peerAddr(i int) string {
	if c.proxies != nil {
		return c.proxies[i].addr()
	}
	return c.nodes[i].raftAddr
}

// restart starts node i again with its original command line.
func (c *cluster) restart(i int) {
	c.t.Helper()
	s := c.nodes[i]
	s.start(c.args[i]...)
	s.waitReady()
}

type clusterStatus struct {
	Groups []struct {
		Leader string
		Nodes  []struct {
			ID, Addr, Suffrage, State, Error string
			AppliedIndex, CommitIndex        uint64
		}
	}
}

// status asks node s for the cluster status.
func (c *cluster) status(s *server) (clusterStatus, error) {
	var st clusterStatus
	r, err := s.callNoFatal("GET", "/cluster", s.operator, nil)
	if err != nil {
		return st, err
	}
	if r.status != 200 {
		return st, fmt.Errorf("GET /cluster: %d %s", r.status, r.raw)
	}
	err = json.Unmarshal(r.raw, &st)
	if err == nil && len(st.Groups) != 1 {
		err = fmt.Errorf("want one group, got %s", r.raw)
	}
	return st, err
}

// indexOf maps a status line to the node index by its address.
func (c *cluster) indexOf(addr string) int {
	for i := range c.nodes {
		if c.peerAddr(i) == addr {
			return i
		}
	}
	return -1
}

// poll retries fn until it returns nil or the time is up.
func (c *cluster) poll(what string, d time.Duration, fn func() error) {
	c.t.Helper()
	var err error
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if err = fn(); err == nil {
			return
		}
	}
	c.t.Fatalf("%s: %v", what, err)
}

// waitVoters waits until every one of n nodes is a reachable voter, and
// learns their ids.
func (c *cluster) waitVoters(n int) {
	c.t.Helper()
	c.poll(fmt.Sprintf("%d voters", n), 20*time.Second, func() error {
		st, err := c.status(c.nodes[0])
		if err != nil {
			return err
		}
		voters := 0
		for _, nd := range st.Groups[0].Nodes {
			if nd.Suffrage == "Voter" && nd.Error == "" {
				voters++
			}
			if i := c.indexOf(nd.Addr); i >= 0 {
				c.ids[i] = nd.ID
			}
		}
		if voters != n || len(st.Groups[0].Nodes) != n {
			return fmt.Errorf("%d voters of %d nodes: %+v", voters, len(st.Groups[0].Nodes), st)
		}
		return nil
	})
}

// leader is the index of the node that leads, as the live node from
// reports it.
func (c *cluster) leader(from *server) int {
	c.t.Helper()
	var at int
	c.poll("a leader", 20*time.Second, func() error {
		st, err := c.status(from)
		if err != nil {
			return err
		}
		for _, nd := range st.Groups[0].Nodes {
			if nd.State == "Leader" {
				at = c.indexOf(nd.Addr)
				return nil
			}
		}
		return fmt.Errorf("no leader in %+v", st)
	})
	return at
}

// waitConverged waits until every node has applied the same index.
func (c *cluster) waitConverged(from *server) {
	c.t.Helper()
	c.poll("the nodes to converge", 30*time.Second, func() error {
		st, err := c.status(from)
		if err != nil {
			return err
		}
		nodes := st.Groups[0].Nodes
		for _, nd := range nodes {
			if nd.Error != "" || nd.AppliedIndex != nodes[0].AppliedIndex || nd.AppliedIndex < nd.CommitIndex {
				return fmt.Errorf("not converged: %+v", nodes)
			}
		}
		return nil
	})
}

// sameOnEveryNode reads path from every node and requires equal answers.
func (c *cluster) sameOnEveryNode(path string) string {
	c.t.Helper()
	var first string
	for i, s := range c.nodes {
		r := s.expect(s.ak("GET", path, nil), 200, "")
		if i == 0 {
			first = string(r.raw)
		} else if string(r.raw) != first {
			c.t.Fatalf("GET %s differs between nodes:\nnode 1: %s\nnode %d: %s", path, first, i+1, r.raw)
		}
	}
	return first
}

// Three nodes join; writes through any node are read back, identical and
// at once, from every node; a node with the wrong secret is refused; a
// removed node comes back by restarting it with the same command line.
func TestClusterJoinWriteAndReadOnEveryNode(t *testing.T) {
	c := startCluster(t, 3, false)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	a := n2.asset("EUR")
	n3.customer("alice")
	n1.customer("bob")
	wa, wb := n3.wallet("alice", a), n2.wallet("bob", a)
	n2.expect(n2.ak("POST", "/transactions", tx("fund", op("Issue", "", wa, 500))), 201, "")
	n3.expect(n3.ak("POST", "/transactions", tx("pay", op("Transfer", wa, wb, 200))), 201, "")
	// a retry through another node finds the one stored transaction
	n1.expect(n1.ak("POST", "/transactions", tx("pay", op("Transfer", wa, wb, 200))), 409, "DuplicateReferenceId")
	// reads right after the writes, on every node, without waiting
	for _, s := range c.nodes {
		if b := s.balance(wa); b != 300 {
			t.Fatalf("%s: alice has %d, want 300", s.url, b)
		}
		if b := s.balance(wb); b != 200 {
			t.Fatalf("%s: bob has %d, want 200", s.url, b)
		}
	}
	c.sameOnEveryNode("/transactions?page=0")
	c.sameOnEveryNode("/customers?page=0")
	c.sameOnEveryNode("/wallets/" + wa + "/entries?page=0")
	n3.expect(n3.ak("GET", "/wallets/"+wb+"?consistency=stale", nil), 200, "")
	n3.expect(n3.ak("GET", "/wallets/"+wb+"?consistency=eventual", nil), 400, "ILLEGAL_DATA")

	out, err := cli(t, "cluster", "status", "--server", n2.url, "--token", n2.operator)
	if err != nil || strings.Count(out, "Voter") != 3 || strings.Count(out, "Leader") != 1 || strings.Count(out, "Follower") != 2 {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}

	// the wrong secret: the node gives up with a clear error
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bad := exec.CommandContext(ctx, binary, "serve", "--data-dir", t.TempDir(), "--http-addr", freeAddrOn(t, "127.0.0.4"),
		"--peer-addr", freeAddrOn(t, "127.0.0.4"), "--join", c.peerAddr(0), "--cluster-secret", "not-the-cluster-secret")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "secret") {
		t.Fatalf("a node with a wrong secret: %v\n%s", err, out)
	}

	// remove node 3: the others go on without it
	if out, err := cli(t, "cluster", "remove", c.ids[2], "--server", n1.url, "--token", n1.operator); err != nil {
		t.Fatalf("cluster remove: %v %s", err, out)
	}
	st, err := c.status(n1)
	if err != nil || len(st.Groups[0].Nodes) != 2 {
		t.Fatalf("after remove: %v %+v", err, st)
	}
	n3.stop()
	n1.expect(n1.ak("POST", "/transactions", tx("while-out", op("Issue", "", wa, 1))), 201, "")
	// the same command line brings it back, with what it missed
	c.restart(2)
	c.waitVoters(3)
	if b := n3.balance(wa); b != 301 {
		t.Fatalf("node 3 after rejoining: alice has %d, want 301", b)
	}
	c.sameOnEveryNode("/transactions?page=0")
}

// clusterLoad sends transfers through every node. A client whose answer is
// not definite (the node died, 503, 202) retries the same referenceId on
// the next node until it is: the retry must give the one true outcome.
type clusterLoad struct {
	c        *cluster
	ws       []string
	funding  int64
	mu       sync.Mutex
	acked    map[string]ack // referenceId → the transaction's id and status
	unclear  int            // first answers that were not definite
	problems []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startClusterLoad(t *testing.T, c *cluster, clients int) *clusterLoad {
	t.Helper()
	n := c.nodes[0]
	a := n.asset("USD")
	l := &clusterLoad{c: c, funding: 10_000, acked: map[string]ack{}, stop: make(chan struct{})}
	for i := 0; i < 12; i++ {
		id := fmt.Sprintf("c%d", i)
		n.customer(id)
		w := n.wallet(id, a)
		n.expect(n.ak("POST", "/transactions", tx("fund-"+id, op("Issue", "", w, l.funding))), 201, "")
		l.ws = append(l.ws, w)
	}
	for g := 0; g < clients; g++ {
		l.wg.Add(1)
		go l.client(g)
	}
	return l
}

func (l *clusterLoad) client(g int) {
	defer l.wg.Done()
	r := rand.New(rand.NewPCG(uint64(g), 7))
	for k := 0; ; k++ {
		select {
		case <-l.stop:
			return
		default:
		}
		ref := fmt.Sprintf("g%d-%d", g, k)
		i, j := r.IntN(len(l.ws)), r.IntN(len(l.ws)-1)
		if j >= i {
			j++
		}
		body := tx(ref, op("Transfer", l.ws[i], l.ws[j], 1+r.IntN(3000)))
		deadline := time.Now().Add(45 * time.Second)
		for attempt := 0; ; attempt++ {
			s := l.c.nodes[(g+attempt)%len(l.c.nodes)]
			res, err := postQuiet(s, body)
			definite := err == nil && (res.status == 201 || res.status == 422 || res.status == 409)
			if !definite {
				if attempt == 0 {
					l.mu.Lock()
					l.unclear++
					l.mu.Unlock()
				}
				if time.Now().After(deadline) {
					l.problem("%s: no definite answer after %d tries: %v %d %s", ref, attempt+1, err, res.status, res.raw)
					return
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			got := res.body
			if res.status == 409 {
				if attempt == 0 {
					l.problem("%s: a new referenceId answered 409: %s", ref, res.raw)
					return
				}
				got, _ = res.body["transaction"].(map[string]any)
			}
			id, _ := got["id"].(string)
			status, _ := got["status"].(string)
			if id == "" || status == "" {
				l.problem("%s: answer without a transaction: %d %s", ref, res.status, res.raw)
				return
			}
			l.mu.Lock()
			l.acked[ref] = ack{id, status}
			l.mu.Unlock()
			break
		}
	}
}

func (l *clusterLoad) problem(format string, args ...any) {
	l.mu.Lock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *clusterLoad) wait(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if len(l.problems) > 0 {
		t.Fatalf("%d clients failed; first: %s", len(l.problems), l.problems[0])
	}
	if len(l.acked) < 100 {
		t.Fatalf("only %d transactions answered: the test proved nothing", len(l.acked))
	}
}

// transactions lists every transaction a node holds: referenceId → ack.
func transactions(t *testing.T, s *server) (map[string]ack, string) {
	t.Helper()
	all := map[string]ack{}
	var raw strings.Builder
	for page := 0; ; page++ {
		r := s.expect(s.ak("GET", fmt.Sprintf("/transactions?page=%d&pageSize=1000", page), nil), 200, "")
		raw.Write(r.raw)
		items, _ := r.body["items"].([]any)
		if len(items) == 0 {
			return all, raw.String()
		}
		for _, v := range items {
			m := v.(map[string]any)
			ref := m["referenceId"].(string)
			if _, dup := all[ref]; dup {
				t.Fatalf("%s holds referenceId %s twice", s.url, ref)
			}
			all[ref] = ack{m["id"].(string), m["status"].(string)}
		}
	}
}

// verify checks every node after the load: it holds exactly the answered
// transactions (and the funding), the same ones as the others, money is
// conserved, no balance is negative, and the wallets are identical.
func (l *clusterLoad) verify(t *testing.T) {
	t.Helper()
	var first string
	for i, s := range l.c.nodes {
		held, raw := transactions(t, s)
		if i == 0 {
			first = raw
		} else if raw != first {
			t.Fatalf("node %d's transactions differ from node 1's", i+1)
		}
		for ref, want := range l.acked {
			if got, ok := held[ref]; !ok || got != want {
				t.Fatalf("node %d: answered %s %+v, holds %+v (present: %v)", i+1, ref, want, got, ok)
			}
		}
		if extra := len(held) - len(l.acked) - len(l.ws); extra != 0 {
			t.Fatalf("node %d holds %d transactions nobody was answered for", i+1, extra)
		}
		var total int64
		for _, w := range l.ws {
			b := s.balance(w)
			if b < 0 {
				t.Fatalf("node %d: wallet %s has %d", i+1, w, b)
			}
			total += b
		}
		if want := int64(len(l.ws)) * l.funding; total != want {
			t.Fatalf("node %d: money not conserved: %d, want %d", i+1, total, want)
		}
	}
	for _, w := range l.ws {
		l.c.sameOnEveryNode("/wallets/" + w)
	}
}

// kill -9 of the leader under concurrent transfers: the survivors elect a
// new leader and go on, the old leader comes back with the same command
// line, and every answered transaction is on every node exactly once.
func TestClusterLeaderKill9UnderLoad(t *testing.T) {
	c := startCluster(t, 3, false)
	l := startClusterLoad(t, c, 12)
	time.Sleep(1500 * time.Millisecond)
	lead := c.leader(c.nodes[0])
	before := len(l.snapshot())
	c.nodes[lead].kill()
	survivor := c.nodes[(lead+1)%3]
	newLead := c.leader(survivor)
	if newLead == lead {
		t.Fatalf("the killed node %d still leads", lead+1)
	}
	time.Sleep(2 * time.Second)
	during := len(l.snapshot()) - before
	c.restart(lead)
	time.Sleep(1500 * time.Millisecond)
	l.wait(t)
	c.waitConverged(survivor)
	t.Logf("%d transactions answered (%d while the old leader was down); %d first answers were not definite and were retried",
		len(l.acked), during, l.unclear)
	if during < 10 {
		t.Fatalf("only %d transactions while the old leader was down: the survivors did not go on", during)
	}
	l.verify(t)
}

func (l *clusterLoad) snapshot() map[string]ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}
