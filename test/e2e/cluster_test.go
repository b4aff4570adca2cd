package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// cluster is a set of cloudwallet processes on 127.0.0.1, .2, .3, ...
type cluster struct {
	t       *testing.T
	nodes   []*server
	args    [][]string     // each node's extra flags: the same on every restart
	proxies []*faultProxy  // in front of each internal port, if asked for
	ids     map[int]string // node index → Raft server id
	r       int            // --replicas: voters per group

	base        string   // the nodes' data dirs are under it
	extra       []string // flags every node gets
	withProxies bool
}

func nodeIP(i int) string { return fmt.Sprintf("127.0.0.%d", i+1) }

// startCluster starts node 0 (which bootstraps) and joins the others to it.
// With proxies, every node advertises a faultProxy in front of its
// internal port, so the test can cut links.
func startCluster(t *testing.T, n int, proxies bool, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, ids: map[int]string{}, r: 3}
	for i, arg := range extra {
		if arg == "--replicas" && i+1 < len(extra) {
			fmt.Sscan(extra[i+1], &c.r)
		}
	}
	c.base, c.extra, c.withProxies = t.TempDir(), extra, proxies
	t.Cleanup(func() {
		if t.Failed() {
			for i, s := range c.nodes {
				t.Logf("node %d's warnings and errors, last 40:\n%s", i+1, lastProblems(s.log(), 40))
				t.Logf("node %d's placement steps, last 30:\n%s", i+1, lastMatching(s.log(), 30, `"msg":"placement:`))
			}
		}
	})
	for i := 0; i < n; i++ {
		c.addNode()
	}
	c.waitVoters(n)
	return c
}

// lastProblems is the last n warning and error lines of a node's log.
func lastProblems(log string, n int) string {
	return lastMatching(log, n, `"level":"WARN"`, `"level":"ERROR"`)
}

// lastMatching is the last n lines of a node's log that hold any of marks.
func lastMatching(log string, n int, marks ...string) string {
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if slices.ContainsFunc(marks, func(m string) bool { return strings.Contains(l, m) }) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// addNode starts one more node: the first bootstraps, the others join it.
func (c *cluster) addNode() *server {
	t := c.t
	t.Helper()
	i := len(c.nodes)
	ip := nodeIP(i)
	s := &server{t: t, dir: filepath.Join(c.base, fmt.Sprintf("n%d", i+1)), joined: i > 0}
	s.httpAddr, s.raftAddr = freeAddrOn(t, ip), freeAddrOn(t, ip)
	args := append([]string(nil), c.extra...)
	if c.withProxies {
		p := newFaultProxy(t, ip+":0", s.raftAddr)
		c.proxies = append(c.proxies, p)
		args = append(args, "--advertise", p.addr())
	}
	if i > 0 {
		args = append(args, "--join", c.peerAddr(0), "--cluster-secret-file", filepath.Join(c.nodes[0].dir, "cluster.secret"))
	}
	s.start(args...)
	s.waitReady()
	if i > 0 {
		s.accessKey, s.sigKey, s.projectID = c.nodes[0].accessKey, c.nodes[0].sigKey, c.nodes[0].projectID
	}
	c.nodes, c.args = append(c.nodes, s), append(c.args, args)
	return s
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
	Replicas      int
	LayoutVersion uint64
	Leaving       []string
	NodeGroups    map[string][]int
	Groups        []groupStatus // the data groups, in order
	MetaGroup     groupStatus   // the meta group, which GET /cluster lists last
}

type groupStatus struct {
	Group  int
	Meta   bool
	Leader string
	Placed []string
	Error  string
	Nodes  []struct {
		ID, Addr, Suffrage, State, Error string
		AppliedIndex, CommitIndex        uint64
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
	if err = json.Unmarshal(r.raw, &st); err != nil {
		return st, err
	}
	if n := len(st.Groups); n < 2 || !st.Groups[n-1].Meta || st.Groups[n-1].Group != n-1 {
		return st, fmt.Errorf("not data groups and then the meta group: %s", r.raw)
	}
	st.Groups, st.MetaGroup = st.Groups[:len(st.Groups)-1], st.Groups[len(st.Groups)-1]
	return st, nil
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

// waitVoters waits until the n nodes are placed as the layout says:
// every group has min(n, R) reachable voters, exactly the nodes the
// layout places it on, and no other member, but in the meta group, which
// counts every node (the others as non-voters); each group led by its
// preferred leader; replicas spread. It learns the nodes' ids.
func (c *cluster) waitVoters(n int) {
	c.t.Helper()
	want := min(n, c.r)
	c.poll(fmt.Sprintf("%d nodes placed", n), 60*time.Second, func() error {
		st, err := c.status(c.nodes[0])
		if err != nil {
			return err
		}
		for _, group := range append(st.Groups, st.MetaGroup) {
			g := group.Group
			var voters []string
			for _, nd := range group.Nodes {
				if nd.Suffrage == "Voter" && nd.Error == "" {
					voters = append(voters, nd.ID)
				}
				if i := c.indexOf(nd.Addr); i >= 0 {
					c.ids[i] = nd.ID
				}
			}
			members := want
			if group.Meta {
				members = n
			}
			slices.Sort(voters)
			placed := slices.Sorted(slices.Values(group.Placed))
			if len(voters) != want || len(group.Nodes) != members || !slices.Equal(voters, placed) {
				return fmt.Errorf("group %d: voters %v of %d members, placed on %v: %+v", g, voters, len(group.Nodes), group.Placed, st)
			}
			// Led by its preferred leader: no hand-over is still to come,
			// which would answer a test's writes 503 while it runs.
			if len(group.Placed) > 0 && group.Leader != group.Placed[0] {
				return fmt.Errorf("group %d: led by %q, its preferred leader is %s", g, group.Leader, group.Placed[0])
			}
		}
		return spread(st, n)
	})
}

// spread reports whether the layout spreads the data groups' replicas
// evenly over the n nodes of the meta group: each holds groups·min(n,R)/n
// of them, give or take one.
func spread(st clusterStatus, n int) error {
	held := map[string]int{}
	for _, nd := range st.MetaGroup.Nodes {
		held[nd.ID] = 0
	}
	replicas := 0
	for _, group := range st.Groups {
		for _, id := range group.Placed {
			held[id]++
			replicas++
		}
	}
	for id, h := range held {
		if h < replicas/n || h > (replicas+n-1)/n {
			return fmt.Errorf("node %s holds %d of %d replicas over %d nodes: %v", id, h, replicas, n, held)
		}
	}
	return nil
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
		for g, group := range append(st.Groups, st.MetaGroup) {
			nodes := group.Nodes
			if group.Error != "" || len(nodes) == 0 {
				return fmt.Errorf("group %d: no holder answered: %s", g, group.Error)
			}
			for _, nd := range nodes {
				if nd.Error != "" || nd.AppliedIndex != nodes[0].AppliedIndex || nd.AppliedIndex < nd.CommitIndex {
					return fmt.Errorf("group %d not converged: %+v", g, nodes)
				}
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

	// two groups of three voters: the data group and the meta group
	out, err := cli(t, "cluster", "status", "--server", n2.url, "--token", n2.operator)
	if err != nil || strings.Count(out, "Voter") != 6 || strings.Count(out, "Leader") != 2 || strings.Count(out, "Follower") != 4 ||
		!strings.Contains(out, "group 1 (meta: projects, keys, layout)") {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}

	// Operators see the forwarding and the read-index rounds: the writes
	// through the followers were forwarded and applied, the leader served
	// them, and the followers' reads asked the leader in shared rounds.
	sum := map[string]float64{}
	for _, s := range c.nodes {
		for k, v := range s.scrape() {
			sum[k] += v
		}
	}
	for _, k := range []string{
		series("cloudwallet_forwarded_commands_total", "group", "0", "status", "applied"),
		series("cloudwallet_forward_served_commands_total", "group", "0", "status", "applied"),
		series("cloudwallet_read_index_rounds_total", "group", "0", "result", "ok", "where", "leader"),
		series("cloudwallet_read_index_rounds_total", "group", "0", "result", "ok", "where", "asked"),
	} {
		if sum[k] < 1 {
			t.Errorf("%s is %v over the three nodes", k, sum[k])
		}
	}
	if asked, reads := sum[series("cloudwallet_read_index_rounds_total", "group", "0", "result", "ok", "where", "asked")],
		sum[series("cloudwallet_read_index_reads_total", "group", "0", "where", "asked")]; reads < asked {
		t.Errorf("%v reads for %v rounds asked of the leader", reads, asked)
	}

	// the wrong secret: the node gives up with a clear error
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bad := exec.CommandContext(ctx, binary, "serve", "--data-dir", t.TempDir(), "--http-addr", freeAddrOn(t, "127.0.0.4"),
		"--peer-addr", freeAddrOn(t, "127.0.0.4"), "--join", c.peerAddr(0), "--cluster-secret", "not-the-cluster-secret")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "secret") {
		t.Fatalf("a node with a wrong secret: %v\n%s", err, out)
	}

	// removing a node that is not there is 404 through every node: the
	// leader knows it at once, a follower learns it from the leader's
	// answer (an error code over the internal port, not its words)
	for _, n := range c.nodes {
		n.expect(n.call("DELETE", "/cluster/nodes/node-nobody", n.operator, nil), 404, "NOT_FOUND")
	}

	// remove node 3: the others go on without it
	if out, err := cli(t, "cluster", "remove", c.ids[2], "--server", n1.url, "--token", n1.operator); err != nil {
		t.Fatalf("cluster remove: %v %s", err, out)
	}
	st, err := c.status(n1)
	if err != nil || len(st.MetaGroup.Nodes) != 2 || len(st.Groups[0].Nodes) != 2 {
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

	// SIGTERM on the leader hands leadership over before it stops: the
	// others have a leader at once, without waiting out an election.
	lead := c.leader(n1)
	other := c.nodes[(lead+1)%3]
	c.nodes[lead].stop()
	if !strings.Contains(c.nodes[lead].log(), "leadership handed over before stopping") {
		t.Fatalf("the stopping leader did not hand over:\n%s", c.nodes[lead].log())
	}
	if r := c.leader(other); r == lead {
		t.Fatalf("node %d still reported as leader after it stopped", lead+1)
	}
	other.expect(other.ak("POST", "/transactions", tx("after-handoff", op("Issue", "", wa, 1))), 201, "")
}

// clusterLoad sends transfers through every node. A client whose answer is
// not definite (the node died, 503, 202) retries the same referenceId on
// the next node until it is: the retry must give the one true outcome.
type clusterLoad struct {
	c        *cluster
	nodes    []*server // the nodes the clients send to, fixed at the start
	ws       []string
	funding  int64
	mu       sync.Mutex
	acked    map[string]ack // referenceId → the transaction's id and status
	ackedAt  []time.Time    // when each answer came, in order
	unclear  int            // first answers that were not definite
	problems []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startClusterLoad(t *testing.T, c *cluster, clients int) *clusterLoad {
	t.Helper()
	n := c.nodes[0]
	a := n.asset("USD")
	l := &clusterLoad{c: c, nodes: slices.Clone(c.nodes), funding: 10_000, acked: map[string]ack{}, stop: make(chan struct{})}
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
		body := randomTransfer(r, ref, l.ws)
		deadline := time.Now().Add(45 * time.Second)
		for attempt := 0; ; attempt++ {
			s := l.nodes[(g+attempt)%len(l.nodes)]
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
			l.ackedAt = append(l.ackedAt, time.Now())
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
	c.killUnderLoad(l, lead, func(survivor *server) {
		if c.leader(survivor) == lead {
			t.Fatalf("the killed node %d still leads", lead+1)
		}
		time.Sleep(2 * time.Second)
	})
	l.verify(t)
}

// killUnderLoad kills node victim with -9 while l runs, lets the
// survivors go on (down runs meanwhile), restarts the node with its
// command line, waits for the load to end and the nodes to converge, and
// requires that the survivors answered transactions while it was down.
func (c *cluster) killUnderLoad(l *clusterLoad, victim int, down func(survivor *server)) {
	t := c.t
	t.Helper()
	before := len(l.snapshot())
	c.nodes[victim].kill()
	survivor := c.nodes[(victim+1)%len(c.nodes)]
	down(survivor)
	during := len(l.snapshot()) - before
	c.restart(victim)
	time.Sleep(1500 * time.Millisecond)
	l.wait(t)
	c.waitConverged(survivor)
	resolved := 0
	for _, s := range c.nodes {
		resolved += strings.Count(s.log(), "resolver: finished")
	}
	t.Logf("%d transactions answered (%d while node %d was down); %d first answers were not definite and were retried; resolvers finished %d",
		len(l.acked), during, victim+1, l.unclear, resolved)
	if during < 10 {
		t.Fatalf("only %d transactions while node %d was down: the survivors did not go on", during, victim+1)
	}
}

// longestGap is the longest time between two answers (or from a bound to
// the nearest answer) within [from, to]: how long the load stalled.
func (l *clusterLoad) longestGap(from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	gap, last := time.Duration(0), from
	for _, at := range l.ackedAt {
		if at.Before(from) || at.After(to) {
			continue
		}
		gap, last = max(gap, at.Sub(last)), at
	}
	return max(gap, to.Sub(last))
}

func (l *clusterLoad) snapshot() map[string]ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}

// isolate cuts node i off from the others, both ways.
func (c *cluster) isolate(i int) {
	var others []string
	for j := range c.nodes {
		if j != i {
			others = append(others, nodeIP(j))
			c.proxies[j].block(nodeIP(i))
		}
	}
	c.proxies[i].block(others...)
}

func (c *cluster) heal() {
	for _, p := range c.proxies {
		p.heal()
	}
}

// The register model of one wallet for porcupine: Issue adds, a read
// returns the balance.
type walletInput struct {
	wallet int
	read   bool
	amount int64
}

var walletModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		for _, o := range history {
			w := o.Input.(walletInput).wallet
			by[w] = append(by[w], o)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		in, balance := input.(walletInput), state.(int64)
		if in.read {
			return output.(int64) == balance, balance
		}
		return true, balance + in.amount
	},
	DescribeOperation: func(input, output any) string {
		in := input.(walletInput)
		if in.read {
			return fmt.Sprintf("read(w%d) → %d", in.wallet, output)
		}
		return fmt.Sprintf("issue(w%d, %d)", in.wallet, in.amount)
	},
}

// history records operations for porcupine, and every write's fate.
type history struct {
	start  time.Time
	mu     sync.Mutex
	ops    []porcupine.Operation
	writes []callRecord
	reads  []callRecord // node, call and status of every read
}

// readsOn counts the reads sent to node after since that have come back.
func (h *history) readsOn(node int, since int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.reads {
		if r.node == node && r.call > since {
			n++
		}
	}
	return n
}

// callRecord is one client call: a write (with ref and in) or a read.
type callRecord struct {
	node      int
	ref       string
	in        walletInput
	call, ret int64
	status    int // 0: no answer
}

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

// The leader is cut off from the other two by fault-injecting proxies
// while clients on every node issue to and read from four wallets. The
// isolated side acknowledges no write, the majority elects a leader and
// goes on, healing converges, and the whole history of reads and writes is
// linearizable per wallet (checked with porcupine; writes whose answer was
// not definite count if a retry with their referenceId finds them).
func TestClusterPartitionedLeaderIsLinearizable(t *testing.T) { partitionedLeader(t, 3) }

// The same with two shard groups: the isolated node leads group 0 (group 1
// may be led by it too, or by a node of the majority), and most issues
// run across both groups (a wallet and a referenceId in different groups).
func TestClusterShardGroupsPartitionedLeaderIsLinearizable(t *testing.T) {
	partitionedLeader(t, 3, "--groups", "2", "--shards", "2")
}

// And with six nodes, six groups and three replicas each: the isolated
// node leads group 0 and holds some others (and maybe the meta group); the
// other groups it reaches through nodes it is now cut off from.
func TestPlacementPartitionedLeaderIsLinearizable(t *testing.T) {
	partitionedLeader(t, 6, "--groups", "6", "--shards", "2", "--replicas", "3")
}

func partitionedLeader(t *testing.T, nodes int, extra ...string) {
	c := startCluster(t, nodes, true, extra...)
	n := c.nodes[0]
	a := n.asset("PTS")
	var ws []string
	for i := 0; i < 4; i++ {
		n.customer(fmt.Sprintf("r%d", i))
		ws = append(ws, n.wallet(fmt.Sprintf("r%d", i), a))
	}
	h := &history{start: time.Now()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := 0
	for node := range c.nodes {
		for k := 0; k < 4; k++ {
			client++
			wg.Add(1)
			go func(id, node int, writer bool) {
				defer wg.Done()
				s := c.nodes[node]
				r := rand.New(rand.NewPCG(uint64(id), 11))
				for seq := 0; ; seq++ {
					select {
					case <-stop:
						return
					default:
					}
					in := walletInput{wallet: r.IntN(len(ws)), read: !writer}
					call := h.now()
					if in.read {
						res, err := s.callNoFatal("GET", "/wallets/"+ws[in.wallet], s.accessKey, nil)
						ret := h.now()
						rd := callRecord{node: node, call: call, ret: ret}
						if err == nil {
							rd.status = res.status
						}
						h.mu.Lock()
						h.reads = append(h.reads, rd)
						if rd.status == 200 {
							h.ops = append(h.ops, porcupine.Operation{ClientId: id, Input: in, Call: call, Output: res.num("balance"), Return: ret})
						}
						h.mu.Unlock()
						continue
					}
					in.amount = 1 + r.Int64N(9)
					ref := fmt.Sprintf("c%d-%d", id, seq)
					res, err := postQuiet(s, tx(ref, op("Issue", "", ws[in.wallet], in.amount)))
					w := callRecord{node: node, ref: ref, in: in, call: call, ret: h.now()}
					if err == nil {
						w.status = res.status
					}
					h.mu.Lock()
					h.writes = append(h.writes, w)
					h.mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			}(client, node, k%2 == 0)
		}
	}
	time.Sleep(time.Second)
	lead := c.leader(n)
	c.isolate(lead)
	cut := h.now()
	majority := c.nodes[(lead+1)%len(c.nodes)]
	newLead := c.leader(majority)
	if newLead == lead {
		// the survivors' status may still name the old leader for a moment
		time.Sleep(2 * time.Second)
		newLead = c.leader(majority)
	}
	if newLead == lead {
		t.Fatalf("the majority kept the isolated node %d as leader", lead+1)
	}
	elected := h.now()
	// longer than a read may wait for a leader (5 s), so every reader on
	// the isolated node sends reads after the election; and on, up to 20 s
	// more, until one of them has come back (a read sent just before the
	// election may hold its reader a while)
	time.Sleep(6 * time.Second)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if h.readsOn(lead, elected) > 0 {
			break
		}
	}
	healed := h.now()
	c.heal()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	end := h.now()

	var majorityAcks, minorityAcks int
	for _, w := range h.writes {
		switch {
		case w.status == 201 && w.node == lead && w.call > cut && w.call < healed: // 202 is no acknowledgment: the outcome is not known
			minorityAcks++
			t.Errorf("the isolated old leader acknowledged %s (%d), sent %v after the cut", w.ref, w.status, time.Duration(w.call-cut))
		case w.status == 201 && w.node != lead && w.call > cut && w.ret < healed:
			majorityAcks++
		}
	}
	if majorityAcks == 0 {
		t.Fatal("the majority acknowledged no write during the partition")
	}
	// Nor does it serve a read once another node leads: it cannot confirm
	// it leads. (Just after the cut it still may, and rightly: heartbeat
	// answers already on their way confirm it, and no other node can be
	// elected before an election timeout has passed.) A read that came
	// back after the heal may have been served after it, and rightly.
	minorityReads := 0
	for _, r := range h.reads {
		if r.node == lead && r.call > elected && r.ret < healed {
			minorityReads++
			if r.status == 200 {
				t.Errorf("the isolated old leader served a read sent %v after another node was elected", time.Duration(r.call-elected))
			}
		}
	}
	if minorityReads == 0 {
		t.Fatal("no read reached the isolated node during the partition: the test proved nothing there")
	}
	// Writes with a definite answer go into the history as they were; the
	// others are settled by a retry through a majority node: found (409)
	// means applied at some point after their call; applied only now (201)
	// means not during the history.
	unclear, appliedUnclear := 0, 0
	for _, w := range h.writes {
		op := porcupine.Operation{ClientId: 1000, Input: w.in, Call: w.call, Return: w.ret}
		switch w.status {
		case 201:
		case 0, 202, 503:
			unclear++
			op.Return = end + int64(time.Hour)
			if !c.resolve(t, majority, w, ws[w.in.wallet]) {
				continue
			}
			appliedUnclear++
		default:
			t.Fatalf("write %s answered %d", w.ref, w.status)
		}
		h.ops = append(h.ops, op)
	}
	t.Logf("%d operations (%d writes acknowledged by the majority during the partition, %d writes not definite and settled by retry, %d of them applied)",
		len(h.ops), majorityAcks, unclear, appliedUnclear)
	res, info := porcupine.CheckOperationsVerbose(walletModel, h.ops, time.Minute)
	if res != porcupine.Ok {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("cloudwallet-history-%d.html", time.Now().UnixNano())) // kept for reading
		porcupine.VisualizePath(walletModel, info, path)
		t.Fatalf("the history is not linearizable (%s); see %s", res, path)
	}
	c.waitConverged(majority)
	for _, w := range ws {
		c.sameOnEveryNode("/wallets/" + w)
	}
}

// resolve retries a write through s until the answer is definite, and
// reports whether it had been applied before (409).
func (c *cluster) resolve(t *testing.T, s *server, w callRecord, wallet string) bool {
	t.Helper()
	body := tx(w.ref, op("Issue", "", wallet, w.in.amount))
	var last resp
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var err error
		if last, err = postQuiet(s, body); err != nil {
			continue
		}
		switch last.status {
		case 409:
			return true
		case 201:
			return false
		}
	}
	t.Fatalf("retrying %s: no definite answer: %d %s", w.ref, last.status, last.raw)
	return false
}
