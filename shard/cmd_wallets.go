package shard

// The wallet family: wallets are made on the shard of their customer (or,
// for a system wallet, the shard the proposer chose), checked against
// their asset in the meta partition; setters run on the wallet's shard
// (shard.go holds the status rules).

func applyCreateWallet(m *Machine, ctx Context, c *Command) Result {
	return onCustomerShard(m, c, func(s *Shard) Result { return m.createWallet(ctx, c, s) })
}

func applyCreateSystemWallet(m *Machine, ctx Context, c *Command) Result {
	s := m.shard(c.Shard)
	if s == nil {
		return Result{Code: ValidationError, Value: "no such shard"}
	}
	return m.createWallet(ctx, c, s)
}

// applyUpdateWallet sets a wallet's name, description or status.
func applyUpdateWallet(m *Machine, ctx Context, c *Command) Result {
	s := m.shard(c.Wallet.Shard)
	if s == nil {
		return Result{Code: WalletNotFound}
	}
	if c.ByCustomer != "" {
		// A Customer Key changes only its own wallets, and not while its
		// customer is Suspended or once it is Deleted.
		w := s.wallet(c.Project, c.Wallet.Index)
		if w == nil {
			return Result{Code: WalletNotFound}
		}
		if w.Customer == 0 {
			return Result{Code: AccessDenied}
		}
		if owner := &s.customers[w.Customer-1]; owner.ID != c.ByCustomer || owner.Status != CustomerActive {
			return Result{Code: AccessDenied}
		}
	}
	return s.updateWallet(ctx, c)
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
	// The meta group checks the asset here; another group trusts the
	// UseAsset the engine ran in the meta group first.
	var a *Asset
	if m.HoldsMeta() {
		if a = m.Meta.asset(c.Project, c.Asset); a == nil {
			return Result{Code: AssetNotFound}
		}
	}
	if cust != nil && cust.Status != CustomerActive {
		return Result{Code: WrongWalletStatus}
	}
	if len(s.wallets) > IndexMax {
		return Result{Code: LimitExceeded}
	}
	if a != nil {
		a.Used = true
	}
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
