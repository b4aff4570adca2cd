package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Reads of a group this node does not hold (remote.go): the query names
// what to read, and the holder answers from its replica after a read index,
// settling holds first when asked (held.go), as it would for its own read.

type queryKind uint8

const (
	qCustomer        queryKind = iota + 1 // a customer
	qCustomers                            // the group's part of a page of customers
	qWallet                               // a wallet
	qCustomerWallets                      // a customer's wallets
	qSystemWallets                        // the group's part of the system wallets
	qEntries                              // a page of a wallet's entries
	qTransaction                          // a transaction record by id, and its attempt
	qTransactions                         // the group's part of a page of transactions
	qRecord                               // a referenceId's record and its attempt
	qHeldParts                            // the parts of transactions across groups that hold wallets
)

// remoteQuery is a read of one group, as it crosses the internal port.
type remoteQuery struct {
	Kind         queryKind
	Project      shard.ProjectID
	ID           string // a customer id, or a referenceId
	Wallet       shard.WalletID
	Wallets      []shard.WalletID
	Tx           shard.TxID
	FromMs, ToMs int64
	Filter       shard.TxFilter // qTransactions
	Page, Size   int
	Settle       bool
}

// queryReply is a query's answer: the fields its kind fills.
type queryReply struct {
	OK          bool
	Customer    shard.CustomerView
	Customers   shard.Part[shard.CustomerView]
	Wallet      shard.WalletView
	Wallets     []shard.WalletView
	WalletsPart shard.Part[shard.WalletView]
	Entries     shard.Page[shard.EntryView]
	Tx          *shard.Tx
	Txs         shard.Part[*shard.Tx]
	Attempt     shard.Attempt
	Held        []shard.InDoubt
}

// queryRemote reads a group through a holder.
func (n *Node) queryRemote(ctx context.Context, sg *shardGroup, q remoteQuery) (queryReply, error) {
	// The holder gives up after ReadTimeout+ApplyTimeout (serveQuery);
	// the caller's ctx may give up sooner.
	timeout := n.cfg.ReadTimeout + n.cfg.ApplyTimeout + callTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(d), time.Millisecond))
	}
	ans, err := n.askHolder(sg, groupRequest{Query: &q}, timeout)
	if err != nil {
		return queryReply{}, fmt.Errorf("%w: reading group %d: %w", ErrUnavailable, sg.group, err)
	}
	return ans.Reply, nil
}

// serveQuery answers another node's read of a group this node serves.
func (n *Node) serveQuery(rp *replica, q remoteQuery) groupAnswer {
	ctx, cancel := context.WithTimeout(n.life, n.cfg.ReadTimeout+n.cfg.ApplyTimeout)
	defer cancel()
	if err := rp.linearize(ctx); err != nil {
		return failGroup(err, rp.leaderAddr())
	}
	r, err := n.readHeld(ctx, rp, q)
	if err != nil {
		return failGroup(err, rp.leaderAddr())
	}
	return groupAnswer{Reply: r, Leader: rp.leaderAddr()}
}

// readHeld runs a query on this node's replica of its group.
func (n *Node) readHeld(ctx context.Context, rp *replica, q remoteQuery) (r queryReply, err error) {
	p := q.Project
	switch q.Kind {
	case qCustomer:
		r.Customer, r.OK, err = n.Customer(ctx, p, q.ID)
	case qCustomers:
		rp.parts.readAll(func(m *shard.Machine) { r.Customers = m.CustomersPart(p, q.Page, q.Size) })
	case qWallet:
		r.Wallet, r.OK, err = n.Wallet(ctx, q.Settle, p, q.Wallet)
	case qCustomerWallets:
		r.Wallets, r.OK, err = n.CustomerWallets(ctx, q.Settle, p, q.ID)
	case qSystemWallets:
		r.WalletsPart, err = n.systemWalletsHeld(ctx, rp, q.Settle, p)
	case qEntries:
		r.Entries, err = n.Entries(ctx, q.Settle, p, q.Wallet, q.FromMs, q.ToMs, q.Page, q.Size)
	case qTransaction:
		r.Tx, r.Attempt, r.OK, err = n.transactionAndAttempt(ctx, p, q.Tx)
	case qTransactions:
		rp.parts.readAll(func(m *shard.Machine) { r.Txs = m.TransactionsPart(p, q.Filter, q.Page, q.Size) })
	case qRecord:
		var pp shard.Placement
		if pp, err = n.placementOf(ctx, p); err == nil {
			r.Tx, r.Attempt, err = n.localRecord(ctx, pp, p, q.ID)
		}
	case qHeldParts:
		r.Held, err = n.heldParts(ctx, p, q.Wallets)
	default:
		err = fmt.Errorf("engine: unknown query %d", q.Kind)
	}
	return r, err
}
