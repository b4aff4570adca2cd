package engine

import (
	"context"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Queries: what the HTTP layer reads, as values. Each one finds the
// partition that holds the answer (a customer's shard, a wallet's, the
// meta partition), reads it on that partition's worker, and for lists
// across shards and groups merges the parts in creation order. They read
// this node's state as it is: call Confirm first for a linearizable
// read. Those that read balances and entries take settle, true for a
// linearizable read: they finish first the decided transactions across
// groups that still hold what they read (held.go), and may then fail.

// Projects lists every project.
func (n *Node) Projects() []shard.ProjectView {
	var ps []shard.ProjectView
	n.ReadMeta(func(m *shard.Meta) { ps = m.Projects() })
	return ps
}

// Project reads a project with its assets.
func (n *Node) Project(p shard.ProjectID) (v shard.ProjectView, ok bool) {
	n.ReadMeta(func(m *shard.Meta) { v, ok = m.ProjectView(p) })
	return v, ok
}

// KeyPairs lists a project's live key pairs, secrets included (the
// caller decides what to show).
func (n *Node) KeyPairs(p shard.ProjectID) []shard.KeyPair {
	var kps []shard.KeyPair
	n.ReadMeta(func(m *shard.Meta) { kps = m.KeyPairs(p) })
	return kps
}

// Assets lists a project's assets.
func (n *Node) Assets(p shard.ProjectID) []shard.Asset {
	var as []shard.Asset
	n.ReadMeta(func(m *shard.Meta) { as = m.Assets(p) })
	return as
}

// Asset reads one asset.
func (n *Node) Asset(p shard.ProjectID, id shard.AssetID) (a shard.Asset, ok bool) {
	n.ReadMeta(func(m *shard.Meta) { a, ok = m.Asset(p, id) })
	return a, ok
}

// Customer reads a customer (a Deleted one too).
func (n *Node) Customer(ctx context.Context, p shard.ProjectID, id string) (v shard.CustomerView, ok bool, err error) {
	pl, known := n.keys.placement(p)
	if !known {
		return v, false, nil
	}
	s := pl.CustomerShard(p, id)
	if n.ReadShard(s, func(s *shard.Shard) { v, ok = s.Customer(p, id) }) {
		return v, ok, nil
	}
	r, err := n.queryRemote(ctx, n.groupOf(s), remoteQuery{Kind: qCustomer, Project: p, ID: id})
	return r.Customer, r.OK, err
}

// Customers is a page of a project's customers in creation order.
func (n *Node) Customers(ctx context.Context, p shard.ProjectID, page, size int) (shard.Page[shard.CustomerView], error) {
	parts := make([]shard.Part[shard.CustomerView], 0, 4)
	err := n.eachProjectGroup(p, func(rp *replica) error {
		rp.parts.readAll(func(m *shard.Machine) { parts = append(parts, m.CustomersPart(p, page, size)) })
		return nil
	}, func(sg *shardGroup) error {
		r, err := n.queryRemote(ctx, sg, remoteQuery{Kind: qCustomers, Project: p, Page: page, Size: size})
		parts = append(parts, r.Customers)
		return err
	})
	return shard.Merge(parts, shard.CustomerOrder, page, size), err
}

// Wallet reads a wallet; an id of a shard the cluster does not have is
// not found.
func (n *Node) Wallet(ctx context.Context, settle bool, p shard.ProjectID, id shard.WalletID) (v shard.WalletView, ok bool, err error) {
	if int(id.Shard) >= n.Shards() {
		return v, false, nil
	}
	if rp := n.groupOf(id.Shard).serving(); rp == nil {
		r, err := n.queryRemote(ctx, n.groupOf(id.Shard), remoteQuery{Kind: qWallet, Project: p, Wallet: id, Settle: settle})
		return r.Wallet, r.OK, err
	}
	err = n.settledRead(ctx, settle, func() (held []shard.InDoubt) {
		n.ReadShard(id.Shard, func(s *shard.Shard) {
			if v, ok = s.Wallet(p, id.Index); ok {
				held = s.HeldParts(p, []uint32{id.Index})
			}
		})
		return held
	})
	return v, ok, err
}

// CustomerWallets lists a customer's wallets (ok is false if there is no
// such customer).
func (n *Node) CustomerWallets(ctx context.Context, settle bool, p shard.ProjectID, id string) (ws []shard.WalletView, ok bool, err error) {
	pl, known := n.keys.placement(p)
	if !known {
		return nil, false, nil
	}
	home := pl.CustomerShard(p, id)
	if rp := n.groupOf(home).serving(); rp == nil {
		r, err := n.queryRemote(ctx, n.groupOf(home), remoteQuery{Kind: qCustomerWallets, Project: p, ID: id, Settle: settle})
		return r.Wallets, r.OK, err
	}
	err = n.settledRead(ctx, settle, func() (held []shard.InDoubt) {
		n.ReadShard(home, func(s *shard.Shard) {
			if ws, ok = s.CustomerWallets(p, id); ok {
				indexes := make([]uint32, len(ws))
				for i, w := range ws {
					indexes[i] = w.ID.Index
				}
				held = s.HeldParts(p, indexes)
			}
		})
		return held
	})
	return ws, ok, err
}

// SystemWallets lists a project's system wallets in creation order.
func (n *Node) SystemWallets(ctx context.Context, settle bool, p shard.ProjectID) ([]shard.WalletView, error) {
	var parts []shard.Part[shard.WalletView]
	err := n.eachProjectGroup(p, func(rp *replica) error {
		part, err := n.systemWalletsHeld(ctx, rp, settle, p)
		parts = append(parts, part)
		return err
	}, func(sg *shardGroup) error {
		r, err := n.queryRemote(ctx, sg, remoteQuery{Kind: qSystemWallets, Project: p, Settle: settle})
		parts = append(parts, r.WalletsPart)
		return err
	})
	if err != nil {
		return nil, err
	}
	return shard.MergeAll(parts, shard.WalletOrder), nil
}

// systemWalletsHeld is one group's part of a project's system wallets, in
// this node's replica of it, its holds settled when asked.
func (n *Node) systemWalletsHeld(ctx context.Context, rp *replica, settle bool, p shard.ProjectID) (part shard.Part[shard.WalletView], err error) {
	err = n.settledRead(ctx, settle, func() (held []shard.InDoubt) {
		rp.parts.readAll(func(m *shard.Machine) {
			part = m.SystemWalletsPart(p)
			for _, s := range m.Shards {
				held = append(held, s.HeldParts(p, nil)...)
			}
		})
		return held
	})
	return part, err
}

// Entries is a page of a wallet's entries with fromMs ≤ createdAt < toMs.
func (n *Node) Entries(ctx context.Context, settle bool, p shard.ProjectID, w shard.WalletID, fromMs, toMs int64, page, size int) (pg shard.Page[shard.EntryView], err error) {
	if int(w.Shard) >= n.Shards() {
		return pg, nil // no such wallet
	}
	if rp := n.groupOf(w.Shard).serving(); rp == nil {
		r, err := n.queryRemote(ctx, n.groupOf(w.Shard), remoteQuery{Kind: qEntries, Project: p, Wallet: w, FromMs: fromMs, ToMs: toMs, Page: page, Size: size, Settle: settle})
		return r.Entries, err
	}
	err = n.settledRead(ctx, settle, func() (held []shard.InDoubt) {
		n.ReadShard(w.Shard, func(s *shard.Shard) {
			pg, _ = s.Entries(p, w.Index, fromMs, toMs, page, size)
			held = s.HeldParts(p, []uint32{w.Index})
		})
		return held
	})
	return pg, err
}

// TransactionByReference finds a project's transaction by its referenceId
// and reads it as Transaction does (ok false: there is none).
func (n *Node) TransactionByReference(ctx context.Context, p shard.ProjectID, ref string) (*shard.Tx, bool, error) {
	pp, known := n.keys.placement(p)
	if !known {
		return nil, false, nil
	}
	tx, _, err := n.localRecord(ctx, pp, p, ref)
	if err != nil || tx == nil {
		return nil, false, err
	}
	return n.Transaction(ctx, p, tx.ID)
}

// Transaction reads a transaction record; an id of a shard the cluster does
// not have is not found.
func (n *Node) Transaction(ctx context.Context, p shard.ProjectID, id shard.TxID) (tx *shard.Tx, ok bool, err error) {
	tx, _, ok, err = n.transactionAndAttempt(ctx, p, id)
	return tx, ok, err
}

// transactionAndAttempt reads a transaction record by id and the attempt
// that made it (zero for one in one group): in one read, through a holder
// for a group this node does not hold.
func (n *Node) transactionAndAttempt(ctx context.Context, p shard.ProjectID, id shard.TxID) (tx *shard.Tx, a shard.Attempt, ok bool, err error) {
	if int(id.Shard) >= n.Shards() {
		return nil, a, false, nil
	}
	if n.ReadShard(id.Shard, func(s *shard.Shard) {
		if tx, ok = s.Tx(p, id.Index); ok {
			a = s.AttemptOf(id.Index)
		}
	}) {
		return tx, a, ok, nil
	}
	r, err := n.queryRemote(ctx, n.groupOf(id.Shard), remoteQuery{Kind: qTransaction, Project: p, Tx: id})
	return r.Tx, r.Attempt, r.OK, err
}

// Transactions is a page of a project's transactions the filter keeps,
// oldest first, across every shard and group.
func (n *Node) Transactions(ctx context.Context, p shard.ProjectID, f shard.TxFilter, page, size int) (shard.Page[*shard.Tx], error) {
	parts := make([]shard.Part[*shard.Tx], 0, 4)
	err := n.eachProjectGroup(p, func(rp *replica) error {
		rp.parts.readAll(func(m *shard.Machine) { parts = append(parts, m.TransactionsPart(p, f, page, size)) })
		return nil
	}, func(sg *shardGroup) error {
		r, err := n.queryRemote(ctx, sg, remoteQuery{Kind: qTransactions, Project: p, Filter: f, Page: page, Size: size})
		parts = append(parts, r.Txs)
		return err
	})
	return shard.Merge(parts, shard.TxOrder, page, size), err
}

// eachProjectGroup visits every group the project lives in: local, with
// this node's replica, or remote, with the group to ask (lists merge what
// they collect). It runs them one after the other, so the callbacks may
// append to one list; it stops at the first error.
func (n *Node) eachProjectGroup(p shard.ProjectID, local func(*replica) error, remote func(*shardGroup) error) error {
	pl, ok := n.keys.placement(p)
	if !ok {
		return nil
	}
	for _, g := range pl.Groups {
		sg := n.groups[g]
		var err error
		if rp := sg.serving(); rp != nil {
			err = local(rp)
		} else {
			err = remote(sg)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
