package engine

import (
	"context"
	"errors"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Operations: every write the HTTP layer makes, as a call with typed
// arguments. Each builds its command (the kind table routes it), proposes
// it and returns its result: a shard.Code for an operating refusal, the
// created or changed object in Value, and an error only when the outcome
// is not known or nothing was proposed (ErrUnavailable, ErrOverloaded,
// ErrOutcomeUnknown). Inputs are the caller's to validate: what needs no
// state is refused before it gets here.

// CreateProject makes a project whose data lives in groups of the
// cluster's shard groups (1 to Groups(); 0: all of them). Of the groups
// equally loaded with projects, those this node is the preferred leader
// of are chosen first, so a client that keeps talking to this node
// writes to the project without a hop to another.
func (n *Node) CreateProject(ctx context.Context, name string, groups int) (shard.Result, error) {
	return n.Propose(ctx, &shard.Command{Kind: shard.CmdCreateProjectNear, Name: name, GroupCount: groups, Near: n.id})
}

// RenameProject renames a project.
func (n *Node) RenameProject(ctx context.Context, p shard.ProjectID, name string) (shard.Result, error) {
	return n.Propose(ctx, &shard.Command{Kind: shard.CmdRenameProject, Project: p, Name: name})
}

// CreateKeyPair makes a key pair with fresh secrets (NewKeyPairCommand).
func (n *Node) CreateKeyPair(ctx context.Context, p shard.ProjectID, name string) (shard.Result, error) {
	return n.Propose(ctx, NewKeyPairCommand(p, name))
}

// DeleteKeyPair deletes a key pair. Its keys stop working once the answer
// is given: the meta group deletes it, and then every other group gets its
// revocation in its log, so a write made with it after the answer is
// refused wherever it applies. A revocation that fails here is left to
// the resolver (the answer is then an unknown outcome; a retry finds the
// key pair gone).
func (n *Node) DeleteKeyPair(ctx context.Context, p shard.ProjectID, k shard.KeyPairID) (shard.Result, error) {
	r, err := n.Propose(ctx, &shard.Command{Kind: shard.CmdDeleteKeyPair, Project: p, KeyPair: k})
	if err != nil || r.Code != shard.OK {
		return r, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	if err := n.revokeEverywhere(ctx, k); err != nil {
		return shard.Result{}, ErrOutcomeUnknown
	}
	return r, nil
}

// revokeEverywhere puts a deleted key pair's revocation into the log of
// every data group (the meta group's delete revoked it there).
func (n *Node) revokeEverywhere(ctx context.Context, k shard.KeyPairID) error {
	return each(n.dataGroups(), func(_ int, rp *shardGroup) error {
		_, err := rp.step(ctx, &shard.Command{Kind: shard.CmdRevokeKeyPair, KeyPair: k})
		return err
	})
}

// CreateAsset makes an asset.
func (n *Node) CreateAsset(ctx context.Context, by shard.By, p shard.ProjectID, name, code string, fractions int64) (shard.Result, error) {
	return n.proposeBy(ctx, by, &shard.Command{Kind: shard.CmdCreateAsset, Project: p, Name: name, Code: code, Fractions: fractions})
}

// RenameAsset renames an asset.
func (n *Node) RenameAsset(ctx context.Context, by shard.By, p shard.ProjectID, a shard.AssetID, name string) (shard.Result, error) {
	return n.proposeBy(ctx, by, &shard.Command{Kind: shard.CmdRenameAsset, Project: p, Asset: a, Name: name})
}

// DeleteAsset deletes an asset no wallet uses.
func (n *Node) DeleteAsset(ctx context.Context, by shard.By, p shard.ProjectID, a shard.AssetID) (shard.Result, error) {
	return n.proposeBy(ctx, by, &shard.Command{Kind: shard.CmdDeleteAsset, Project: p, Asset: a})
}

// proposeBy proposes a write made by by.
func (n *Node) proposeBy(ctx context.Context, by shard.By, c *shard.Command) (shard.Result, error) {
	by.Stamp(c)
	return n.Propose(ctx, c)
}

// CustomerFields are an upsert's optional fields: nil leaves a field as it
// is (or empty, for a new customer).
type CustomerFields struct {
	Name, Description *string
}

// UpsertCustomer makes a customer, or changes the given fields of one.
func (n *Node) UpsertCustomer(ctx context.Context, by shard.By, p shard.ProjectID, id string, f CustomerFields) (shard.Result, error) {
	return n.proposeBy(ctx, by, UpsertCustomerCommand(p, id, f))
}

// UpsertCustomerCommand is the command UpsertCustomer proposes.
func UpsertCustomerCommand(p shard.ProjectID, id string, f CustomerFields) *shard.Command {
	c := &shard.Command{Kind: shard.CmdUpsertCustomer, Project: p, Customer: id,
		HasName: f.Name != nil, HasDesc: f.Description != nil}
	if f.Name != nil {
		c.Name = *f.Name
	}
	if f.Description != nil {
		c.Description = *f.Description
	}
	return c
}

// SuspendCustomer suspends a customer and its Open wallets.
func (n *Node) SuspendCustomer(ctx context.Context, by shard.By, p shard.ProjectID, id string) (shard.Result, error) {
	return n.proposeBy(ctx, by, &shard.Command{Kind: shard.CmdSuspendCustomer, Project: p, Customer: id})
}

// ResumeCustomer makes a customer Active and the listed wallets Open.
func (n *Node) ResumeCustomer(ctx context.Context, by shard.By, p shard.ProjectID, id string, reopen []shard.WalletID) (shard.Result, error) {
	return n.proposeBy(ctx, by, &shard.Command{Kind: shard.CmdResumeCustomer, Project: p, Customer: id, Wallets: reopen})
}

// DeleteCustomer deletes a customer whose wallets are all Closed.
func (n *Node) DeleteCustomer(ctx context.Context, by shard.By, p shard.ProjectID, id string) (shard.Result, error) {
	return n.proposeBy(ctx, by, &shard.Command{Kind: shard.CmdDeleteCustomer, Project: p, Customer: id})
}

// NewWallet describes a wallet to make: a customer's, or with Customer
// empty, a system wallet of the project.
type NewWallet struct {
	Customer          string
	Asset             shard.AssetID
	Name, Description string
}

// CreateWallet makes a wallet. A system wallet goes to the next shard in
// turn, so they spread over the cluster.
func (n *Node) CreateWallet(ctx context.Context, by shard.By, p shard.ProjectID, w NewWallet) (shard.Result, error) {
	c := &shard.Command{Kind: shard.CmdCreateWallet, Project: p, Customer: w.Customer, Asset: w.Asset,
		Name: w.Name, Description: w.Description}
	if w.Customer == "" {
		pl, err := n.placementOf(ctx, p)
		if errors.Is(err, ErrNoProject) {
			return shard.Result{Code: shard.ProjectNotFound}, nil
		} else if err != nil {
			return shard.Result{}, err
		}
		c.Kind, c.Shard = shard.CmdCreateSystemWallet, n.nextSystemShard(pl)
	}
	return n.proposeBy(ctx, by, c)
}

// SetWalletName renames a wallet.
func (n *Node) SetWalletName(ctx context.Context, by shard.By, p shard.ProjectID, w shard.WalletID, name string) (shard.Result, error) {
	return n.proposeBy(ctx, by, &shard.Command{Kind: shard.CmdSetWalletName, Project: p, Wallet: w, Name: name})
}

// SetWalletDescription sets a wallet's description.
func (n *Node) SetWalletDescription(ctx context.Context, by shard.By, p shard.ProjectID, w shard.WalletID, description string) (shard.Result, error) {
	return n.proposeBy(ctx, by, &shard.Command{Kind: shard.CmdSetWalletDescription, Project: p, Wallet: w, Description: description})
}

// SetWalletStatus changes a wallet's status (the rules are the state
// machine's).
func (n *Node) SetWalletStatus(ctx context.Context, by shard.By, p shard.ProjectID, w shard.WalletID, st shard.WalletStatus) (shard.Result, error) {
	return n.proposeBy(ctx, by, &shard.Command{Kind: shard.CmdSetWalletStatus, Project: p, Wallet: w, Status: st})
}

// Transact applies a transaction's operations atomically, once per
// referenceId: in one group as one command, across groups by two-phase
// commit. The result's Value is the transaction record.
func (n *Node) Transact(ctx context.Context, by shard.By, p shard.ProjectID, ref string, ops []shard.Op) (shard.Result, error) {
	return n.proposeBy(ctx, by, TransactionCommand(p, ref, ops))
}

// TransactionCommand is the command Transact proposes.
func TransactionCommand(p shard.ProjectID, ref string, ops []shard.Op) *shard.Command {
	return &shard.Command{Kind: shard.CmdTransaction, Project: p, ReferenceID: ref, Ops: ops}
}
