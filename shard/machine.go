package shard

import "fmt"

// Machine is the whole replicated state of a shard group: the meta partition
// and S shards. It is not safe for concurrent use, except that Apply calls for
// commands with disjoint Partitions may run concurrently (the engine does).
type Machine struct {
	Meta   *Meta
	Shards []*Shard
}

// NewMachine returns an empty machine with the given number of shards.
func NewMachine(shards int) *Machine {
	if shards < 1 || shards > ShardsMax {
		panic(fmt.Sprintf("shard: %d shards is outside 1..%d", shards, ShardsMax))
	}
	m := &Machine{Meta: newMeta(), Shards: make([]*Shard, shards)}
	for i := range m.Shards {
		m.Shards[i] = newShard(uint16(i))
	}
	return m
}

// ShardCount is S.
func (m *Machine) ShardCount() int { return len(m.Shards) }

// Apply runs one command. It returns an operating error as a Result code and
// panics only on a broken invariant (a bug, or a command the decoder should
// have refused).
func (m *Machine) Apply(ctx Context, c *Command) Result {
	switch c.Kind {
	case CmdCreateProject:
		return m.Meta.createProject(ctx, c)
	case CmdRenameProject:
		return m.Meta.renameProject(c)
	case CmdCreateKeyPair:
		return m.Meta.createKeyPair(ctx, c)
	case CmdDeleteKeyPair:
		return m.Meta.deleteKeyPair(c)
	case CmdCreateAsset:
		return m.Meta.createAsset(ctx, c)
	case CmdRenameAsset:
		return m.Meta.renameAsset(c)
	case CmdDeleteAsset:
		return m.Meta.deleteAsset(c)
	case CmdUpsertCustomer:
		return m.customerShard(c).upsertCustomer(ctx, c)
	case CmdSuspendCustomer:
		return m.customerShard(c).suspendCustomer(ctx, c)
	case CmdResumeCustomer:
		return m.customerShard(c).resumeCustomer(ctx, c)
	case CmdDeleteCustomer:
		return m.customerShard(c).deleteCustomer(ctx, c)
	case CmdCreateWallet:
		return m.createWallet(ctx, c, m.customerShard(c))
	case CmdCreateSystemWallet:
		if int(c.Shard) >= len(m.Shards) {
			return Result{Code: ValidationError, Value: "no such shard"}
		}
		return m.createWallet(ctx, c, m.Shards[c.Shard])
	case CmdSetWalletName, CmdSetWalletDescription, CmdSetWalletStatus:
		if int(c.Wallet.Shard) >= len(m.Shards) {
			return Result{Code: WalletNotFound}
		}
		return m.Shards[c.Wallet.Shard].updateWallet(ctx, c)
	case CmdTransaction:
		return m.transaction(ctx, c)
	}
	panic("shard: Apply of unknown command kind " + c.Kind.String())
}

func (m *Machine) customerShard(c *Command) *Shard {
	return m.Shards[CustomerShard(c.Project, c.Customer, len(m.Shards))]
}

// createWallet touches the meta partition (the asset must exist; it becomes
// used) and the shard that will hold the wallet.
func (m *Machine) createWallet(ctx Context, c *Command, s *Shard) Result {
	var cust *Customer
	var custRef uint32
	if c.Kind == CmdCreateWallet {
		var ci uint32
		if cust, ci = s.customer(c.Project, c.Customer); cust == nil {
			return Result{Code: CustomerNotFound}
		}
		custRef = ci + 1
	}
	a := m.Meta.asset(c.Project, c.Asset)
	if a == nil {
		return Result{Code: AssetNotFound}
	}
	if cust != nil && cust.Status != CustomerActive {
		return Result{Code: WrongWalletStatus}
	}
	if len(s.wallets) > IndexMax {
		return Result{Code: LimitExceeded}
	}
	a.Used = true
	idx := uint32(len(s.wallets))
	s.wallets = append(s.wallets, Wallet{
		Seq: ctx.Seq, Project: c.Project, Asset: c.Asset, Customer: custRef,
		Status: WalletOpen, CreatedAt: ctx.TimeMs, UpdatedAt: ctx.TimeMs,
		Text: newText(c.Name, c.Description),
	})
	if cust != nil {
		cust.Wallets = append(cust.Wallets, idx)
	} else {
		s.systemWallets[c.Project] = append(s.systemWallets[c.Project], idx)
	}
	return Result{Created: true, Value: s.walletView(idx)}
}
