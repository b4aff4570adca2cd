package shard

// Shard is one partition of customers, wallets and transaction records.
// Everything a customer owns lives in the customer's shard; a system wallet
// lives in the shard its proposer chose; a transaction record lives in the
// shard of its referenceId. The dense slices are append-only. A Shard is
// owned by whoever applies to it (one engine worker); it has no lock.
type Shard struct {
	id            uint16
	customers     []Customer
	customerIndex keyIndex // (project, id) → index in customers
	wallets       []Wallet
	txs           []*Tx
	refIndex      keyIndex // (project, referenceId) → index in txs

	// Per-project lists in creation order. Map iteration never reaches a
	// result: only lookups by project.
	projectCustomers map[ProjectID][]uint32
	projectTxs       map[ProjectID][]uint32
	systemWallets    map[ProjectID][]uint32

	// Transactions across shard groups (twophase.go): the records still
	// Waiting for their decision; the attempt that made each record across
	// groups (attemptList is the append-only form snapshots copy cheaply);
	// the prepared parts by attempt and what they hold per wallet index
	// (usually empty); the attempts finished here and those a resolver
	// fenced off, both forever.
	//
	// Holds (hold.go): the records still Held, and what their open parts
	// reserve per wallet index, apart from the holds of parts still in
	// flight, which block (held.go) where these do not.
	waiting   map[uint32]*Tx
	openHolds map[uint32]*Tx
	reserved  map[uint32]hold
	// Derived from the two above (never in a snapshot): the open holds
	// with a timeout by deadline, for the expiry sweep (DueHolds, which
	// reorders it on the shard's worker, as every read of a shard runs),
	// and the sum of the reserved debits.
	expiries      expiryHeap
	reservedDebit int64
	attempts      map[uint32]Attempt
	attemptList   []recordAttempt
	prepared      map[Attempt]*preparedTx
	holds         map[uint32]hold
	holders       map[uint32][]Attempt // per wallet index, the parts in flight behind holds: HeldParts' index (never in a snapshot; addHold keeps it)
	finished      attemptSet
	fenced        attemptSet
}

func newShard(id uint16) *Shard {
	return &Shard{
		id:               id,
		customerIndex:    newKeyIndex(),
		refIndex:         newKeyIndex(),
		projectCustomers: map[ProjectID][]uint32{},
		projectTxs:       map[ProjectID][]uint32{},
		systemWallets:    map[ProjectID][]uint32{},
		waiting:          map[uint32]*Tx{},
		openHolds:        map[uint32]*Tx{},
		reserved:         map[uint32]hold{},
		attempts:         map[uint32]Attempt{},
		prepared:         map[Attempt]*preparedTx{},
		holds:            map[uint32]hold{},
		holders:          map[uint32][]Attempt{},
		finished:         newAttemptSet(),
		fenced:           newAttemptSet(),
	}
}

// ID is the shard's number (its partition is ID+1).
func (s *Shard) ID() uint16 { return s.id }

// projectKey scopes a client-chosen key (customer id, referenceId) to its project.
func projectKey(p ProjectID, key string) string {
	b := make([]byte, 4, 4+len(key))
	b[0], b[1], b[2], b[3] = byte(p), byte(p>>8), byte(p>>16), byte(p>>24)
	return string(append(b, key...))
}

func (s *Shard) customer(p ProjectID, id string) (*Customer, uint32) {
	ci, ok := s.customerIndex.get(p, id, func(i uint32) bool {
		return s.customers[i].Project == p && s.customers[i].ID == id
	})
	if !ok {
		return nil, 0
	}
	return &s.customers[ci], ci
}

// wallet returns the project's wallet with this index, or nil.
func (s *Shard) wallet(p ProjectID, index uint32) *Wallet {
	if int(index) >= len(s.wallets) {
		return nil
	}
	w := &s.wallets[index]
	if w.Project != p {
		return nil
	}
	return w
}

func (s *Shard) upsertCustomer(ctx Context, c *Command) Result {
	cust, ci := s.customer(c.Project, c.Customer)
	if cust == nil {
		if len(s.customers) > IndexMax {
			return Result{Code: LimitExceeded}
		}
		ci = uint32(len(s.customers))
		s.customers = append(s.customers, Customer{
			Seq: ctx.Seq, Project: c.Project, ID: c.Customer, Text: newText(c.Name, c.Description),
			Status:    CustomerActive,
			CreatedAt: ctx.TimeMs, UpdatedAt: ctx.TimeMs,
		})
		s.customerIndex.put(c.Project, c.Customer, ci)
		s.projectCustomers[c.Project] = append(s.projectCustomers[c.Project], ci)
		return Result{Created: true, Value: s.customerView(ci)}
	}
	if cust.Status == CustomerDeleted {
		return Result{Code: CustomerAlreadyExist}
	}
	if c.HasName || c.HasDesc {
		name, desc := cust.Text.name(), cust.Text.description()
		if c.HasName {
			name = c.Name
		}
		if c.HasDesc {
			desc = c.Description
		}
		cust.Text = newText(name, desc) // a new Text: frozen copies keep the old one
		cust.UpdatedAt = ctx.TimeMs
	}
	return Result{Value: s.customerView(ci)}
}

// liveCustomer finds a customer that may still change: not found and Deleted
// customers both answer CustomerNotFound.
func (s *Shard) liveCustomer(c *Command) (*Customer, uint32, Code) {
	cust, ci := s.customer(c.Project, c.Customer)
	if cust == nil || cust.Status == CustomerDeleted {
		return nil, 0, CustomerNotFound
	}
	return cust, ci, OK
}

func (s *Shard) suspendCustomer(ctx Context, c *Command) Result {
	cust, ci, code := s.liveCustomer(c)
	if code != OK {
		return Result{Code: code}
	}
	if cust.Status != CustomerSuspended {
		cust.Status = CustomerSuspended
		cust.UpdatedAt = ctx.TimeMs
	}
	for _, wi := range cust.Wallets {
		if w := &s.wallets[wi]; w.Status == WalletOpen {
			w.Status = WalletSuspended
			w.UpdatedAt = ctx.TimeMs
		}
	}
	return Result{Value: s.customerView(ci)}
}

func (s *Shard) resumeCustomer(ctx Context, c *Command) Result {
	cust, ci, code := s.liveCustomer(c)
	if code != OK {
		return Result{Code: code}
	}
	// Check every listed wallet before changing anything: all or nothing.
	for _, id := range c.Wallets {
		if id.Shard != s.id || s.wallet(c.Project, id.Index) == nil ||
			s.wallets[id.Index].Customer != ci+1 {
			return Result{Code: WalletNotFound, Value: "wallet " + id.String() + " is not a wallet of the customer"}
		}
		if s.wallets[id.Index].Status == WalletClosed {
			return Result{Code: ChangeWalletStatusError, Value: "wallet " + id.String() + " is Closed"}
		}
	}
	if cust.Status != CustomerActive {
		cust.Status = CustomerActive
		cust.UpdatedAt = ctx.TimeMs
	}
	for _, id := range c.Wallets {
		if w := &s.wallets[id.Index]; w.Status != WalletOpen {
			w.Status = WalletOpen
			w.UpdatedAt = ctx.TimeMs
		}
	}
	return Result{Value: s.customerView(ci)}
}

func (s *Shard) deleteCustomer(ctx Context, c *Command) Result {
	cust, ci := s.customer(c.Project, c.Customer)
	if cust == nil {
		return Result{Code: CustomerNotFound}
	}
	if cust.Status == CustomerDeleted {
		return Result{Value: s.customerView(ci)} // deleting twice is a no-op
	}
	for _, wi := range cust.Wallets {
		if s.wallets[wi].Status != WalletClosed {
			return Result{Code: CustomerHasActiveWallets}
		}
	}
	cust.Status = CustomerDeleted
	cust.Text = nil
	cust.UpdatedAt = ctx.TimeMs
	return Result{Value: s.customerView(ci)}
}

func (s *Shard) updateWallet(ctx Context, c *Command) Result {
	w := s.wallet(c.Project, c.Wallet.Index)
	if w == nil {
		return Result{Code: WalletNotFound}
	}
	switch c.Kind {
	case CmdSetWalletName:
		w.Text = newText(c.Name, w.Text.description())
	case CmdSetWalletDescription:
		w.Text = newText(w.Text.name(), c.Description)
	case CmdSetWalletStatus:
		if code := s.checkStatusChange(c.Wallet.Index, c.Status); code != OK {
			if w.Balance == 0 && s.blocked(c, c.Wallet.Index) {
				// Closing fails only for the holds, which may be
				// aborted ones.
				return Result{Code: code, Value: &Blocked{Wallets: []WalletID{c.Wallet}}}
			}
			return Result{Code: code, Value: "wallet cannot go from " + w.Status.String() + " to " + c.Status.String()}
		}
		if w.Status == c.Status {
			return Result{Value: s.walletView(c.Wallet.Index)} // a no-op keeps updatedAt
		}
		w.Status = c.Status
	}
	w.UpdatedAt = ctx.TimeMs
	return Result{Value: s.walletView(c.Wallet.Index)}
}

// checkStatusChange applies the wallet status rules of API.md §4.3.
func (s *Shard) checkStatusChange(index uint32, to WalletStatus) Code {
	w := &s.wallets[index]
	if w.Status == to {
		return OK
	}
	switch {
	case w.Status == WalletClosed:
		return ChangeWalletStatusError // nothing leaves Closed
	case to == WalletClosed && (w.Balance != 0 || s.holds[index] != hold{} || s.reserved[index] != hold{}):
		return ChangeWalletStatusError // money left, a transaction across groups pending, or a hold
	case to == WalletOpen && !w.System() && s.customers[w.Customer-1].Status != CustomerActive:
		return ChangeWalletStatusError // resume the customer instead
	}
	return OK
}
