package e2e

import (
	"fmt"
	"testing"
	"time"
)

// Holds end to end: the real binary, restarts, kill -9, a new leader and
// a hold across shard groups.

// hold posts a hold of ops with the timeout (0: none) and returns its id.
func (s *server) hold(ref string, timeoutMs int64, ops ...map[string]any) string {
	s.t.Helper()
	body := tx(ref, ops...)
	body["hold"] = map[string]any{"timeoutMs": timeoutMs}
	r := s.expect(s.ak("POST", "/transactions", body), 201, "")
	if r.str("status") != "Held" {
		s.t.Fatalf("hold %s: %s", ref, r.raw)
	}
	return r.str("id")
}

// buyerAndShop makes an asset, customers buyer and shop with a wallet
// each, and issues funds to the buyer's.
func (s *server) buyerAndShop(asset string, funds int64) (buyer, shop string) {
	a := s.asset(asset)
	s.customer("buyer")
	s.customer("shop")
	buyer, shop = s.wallet("buyer", a), s.wallet("shop", a)
	s.expect(s.ak("POST", "/transactions", tx("fund", op("Issue", "", buyer, funds))), 201, "")
	return buyer, shop
}

// wallet2 is a wallet's balance and available balance.
func (s *server) wallet2(w string) (balance, available int64) {
	s.t.Helper()
	r := s.expect(s.ak("GET", "/wallets/"+w, nil), 200, "")
	return r.num("balance"), r.num("availableBalance")
}

func (s *server) wantWallet(w string, balance, available int64) {
	s.t.Helper()
	if b, a := s.wallet2(w); b != balance || a != available {
		s.t.Fatalf("wallet %s: balance %d available %d, want %d %d", w, b, a, balance, available)
	}
}

// waitStatus waits until the transaction has the status.
func (s *server) waitStatus(id, status string, d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r := s.expect(s.ak("GET", "/transactions/"+id, nil), 200, "")
		if r.str("status") == status {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("transaction %s is still %s after %s, want %s", id, r.str("status"), d, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A hold made before a kill -9 is still Held after the restart, with its
// reservation, and captures; a hold whose deadline passes while the node
// is down expires after the restart, in log time.
func TestHoldSurvivesKill9ThenCapturesAndExpires(t *testing.T) {
	s := newServer(t)
	buyer, shop := s.buyerAndShop("USD", 1000)
	kept := s.hold("auth-kept", 0, op("Transfer", buyer, shop, 300))
	lapsing := s.hold("auth-lapsing", 1500, op("Redeem", buyer, "", 200))
	s.wantWallet(buyer, 1000, 500)

	s.kill()
	time.Sleep(1600 * time.Millisecond) // past the second hold's deadline while down
	s = startServer(t, s.dir, s)
	if r := s.expect(s.ak("GET", "/transactions/"+kept, nil), 200, ""); r.str("status") != "Held" {
		t.Fatalf("the hold after kill -9: %s", r.raw)
	}
	s.waitStatus(lapsing, "Expired", 10*time.Second)
	s.wantWallet(buyer, 1000, 700)
	c := s.expect(s.ak("POST", "/transactions/"+kept+"/capture", nil), 200, "")
	if c.str("status") != "Completed" {
		t.Fatalf("capture after the restart: %s", c.raw)
	}
	s.wantWallet(buyer, 700, 700)
	s.wantWallet(shop, 300, 300)
	s.expect(s.ak("POST", "/transactions/"+lapsing+"/capture", nil), 409, "WRONG_TRANSACTION_STATUS")

	// A clean restart keeps the ended holds as they are.
	s.stop()
	s = startServer(t, s.dir, s)
	s.expect(s.ak("POST", "/transactions/"+kept+"/capture", nil), 200, "")
	s.wantWallet(buyer, 700, 700)
	if e := s.expect(s.ak("GET", "/wallets/"+shop+"/entries?page=0", nil), 200, ""); e.num("total") != 1 {
		t.Fatalf("the capture posted %d entries, want 1: %s", e.num("total"), e.raw)
	}
}

// A hold made through one node is captured through another after the
// leader is killed with -9, and every node reads the same after.
func TestHoldCapturedOnANewLeaderAfterKill9(t *testing.T) {
	c := startCluster(t, 3, false)
	s := c.nodes[0]
	buyer, shop := s.buyerAndShop("EUR", 500)
	id := s.hold("auth", 0, op("Transfer", buyer, shop, 120))

	lead := c.leader(s)
	c.nodes[lead].kill()
	survivor := c.nodes[(lead+1)%3]
	if c.leader(survivor) == lead {
		t.Fatalf("the killed node %d still leads", lead+1)
	}
	r := survivor.expect(survivor.ak("POST", "/transactions/"+id+"/capture", nil), 200, "")
	if r.str("status") != "Completed" {
		t.Fatalf("capture on the new leader: %s", r.raw)
	}
	survivor.wantWallet(buyer, 380, 380)
	c.restart(lead)
	c.waitConverged(survivor)
	c.sameOnEveryNode("/wallets/" + shop)
	c.sameOnEveryNode("/transactions/" + id)
	c.nodes[lead].wantWallet(shop, 120, 120)
}

// A hold whose wallets live in two shard groups runs as two-phase commit:
// the hold is the prepare, capture and void the decision. The reservation
// holds on the participant's wallet too (a transaction there cannot spend
// it), a capture posts in both groups, a void and an expiry release.
func TestHoldAcrossShardGroups(t *testing.T) {
	c := startCluster(t, 3, false, "--groups", "2", "--shards", "2")
	c.useProject(0, 2)
	s := c.nodes[0]
	a := s.asset("EUR")
	var ws [2][]string
	for i := 0; len(ws[0]) < 1 || len(ws[1]) < 2; i++ {
		if i > 64 {
			t.Fatal("customers never spread over both groups")
		}
		id := fmt.Sprintf("cust%d", i)
		s.customer(id)
		w := s.wallet(id, a)
		ws[walletGroup(t, w)] = append(ws[walletGroup(t, w)], w)
	}
	payer, shop, other := ws[0][0], ws[1][0], ws[1][1]
	s.expect(s.ak("POST", "/transactions", tx("fund", op("Issue", "", payer, 1000))), 201, "")

	// Refs until one is in each group: the record's group is the coordinator's.
	for i := range 4 {
		ref := fmt.Sprintf("x-auth-%d", i)
		id := c.nodes[i%3].hold(ref, 0, op("Transfer", payer, shop, 100))
		for _, n := range c.nodes {
			n.wantWallet(payer, 1000-int64(100*i), 900-int64(100*i))
			n.wantWallet(shop, int64(100*i), int64(100*i))
		}
		// A transfer from the payer may spend only what is available.
		s.expect(s.ak("POST", "/transactions", tx(ref+"-over", op("Transfer", payer, other, 901-int64(100*i)))), 422, "")
		r := c.nodes[(i+1)%3].expect(c.nodes[(i+1)%3].ak("POST", "/transactions/"+id+"/capture", nil), 200, "")
		if r.str("status") != "Completed" {
			t.Fatalf("capture across groups: %s", r.raw)
		}
		// A read right after the answer, on any node, sees all of it.
		for _, n := range c.nodes {
			n.wantWallet(payer, 900-int64(100*i), 900-int64(100*i))
			n.wantWallet(shop, int64(100*(i+1)), int64(100*(i+1)))
		}
	}
	v := s.hold("x-void", 0, op("Transfer", payer, shop, 50))
	c.nodes[2].expect(c.nodes[2].ak("POST", "/transactions/"+v+"/void", nil), 200, "")
	e := s.hold("x-expire", 800, op("Transfer", payer, shop, 60))
	s.wantWallet(payer, 600, 540)
	s.waitStatus(e, "Expired", 10*time.Second)
	for _, n := range c.nodes {
		n.wantWallet(payer, 600, 600)
		n.wantWallet(shop, 400, 400)
	}
	// Nothing stays held: the payer's wallet can empty and close.
	s.expect(s.ak("POST", "/transactions", tx("drain", op("Redeem", payer, "", 600))), 201, "")
	s.expect(s.ak("PUT", "/wallets/"+payer+"/status", map[string]any{"status": "Closed"}), 200, "")
	if r := s.expect(s.ak("GET", "/transactions?status=Held&page=0", nil), 200, ""); r.num("total") != 0 {
		t.Fatalf("open holds left: %s", r.raw)
	}
}

// The hold metrics count what the node did: holds made, and how each
// ended; the open holds and what they reserve follow within a second.
func TestHoldMetrics(t *testing.T) {
	s := newServer(t)
	a := s.asset("USD")
	s.customer("buyer")
	buyer := s.wallet("buyer", a)
	s.expect(s.ak("POST", "/transactions", tx("fund", op("Issue", "", buyer, 1000))), 201, "")
	captured := s.hold("m-capture", 0, op("Redeem", buyer, "", 300))
	voided := s.hold("m-void", 0, op("Redeem", buyer, "", 50))
	s.hold("m-expire", 300, op("Redeem", buyer, "", 100))
	holds := func(outcome string) string { return series("cloudwallet_holds_total", "outcome", outcome) }
	waitMetrics := func(want map[string]float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, ok := s.scrape(), true
			for k, v := range want {
				ok = ok && got[k] == v
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics: want %v", want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitMetrics(map[string]float64{holds("held"): 3, holds("expired"): 1,
		"cloudwallet_holds_open": 2, "cloudwallet_holds_reserved_amount": 350})
	s.expect(s.ak("POST", "/transactions/"+captured+"/capture", nil), 200, "")
	s.expect(s.ak("POST", "/transactions/"+voided+"/void", nil), 200, "")
	s.expect(s.ak("POST", "/transactions/"+voided+"/void", nil), 200, "") // again: no second count
	waitMetrics(map[string]float64{holds("held"): 3, holds("captured"): 1, holds("voided"): 1, holds("expired"): 1,
		"cloudwallet_holds_open": 0, "cloudwallet_holds_reserved_amount": 0})
}
