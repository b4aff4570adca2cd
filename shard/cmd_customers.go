package shard

// The customer family (shard.go holds the rules): each command runs on the
// shard of its customer.

func applyUpsertCustomer(m *Machine, ctx Context, c *Command) Result {
	return onCustomerShard(m, c, func(s *Shard) Result { return s.upsertCustomer(ctx, c) })
}

func applySuspendCustomer(m *Machine, ctx Context, c *Command) Result {
	return onCustomerShard(m, c, func(s *Shard) Result { return s.suspendCustomer(ctx, c) })
}

func applyResumeCustomer(m *Machine, ctx Context, c *Command) Result {
	return onCustomerShard(m, c, func(s *Shard) Result { return s.resumeCustomer(ctx, c) })
}

func applyDeleteCustomer(m *Machine, ctx Context, c *Command) Result {
	return onCustomerShard(m, c, func(s *Shard) Result { return s.deleteCustomer(ctx, c) })
}

// onCustomerShard runs fn on the shard of c's customer, or refuses a
// command routed to a group that does not hold it.
// A Customer Key reaches only its own customer, and not while it is
// Suspended or once it is Deleted.
func onCustomerShard(m *Machine, c *Command, fn func(s *Shard) Result) Result {
	s := m.shard(c.Shard)
	if s == nil {
		return notHere
	}
	if c.ByCustomer != "" {
		if c.ByCustomer != c.Customer {
			return Result{Code: AccessDenied}
		}
		if cust, _ := s.customer(c.Project, c.Customer); cust != nil && cust.Status != CustomerActive {
			return Result{Code: AccessDenied}
		}
	}
	return fn(s)
}
