package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
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
