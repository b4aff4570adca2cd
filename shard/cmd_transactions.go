package shard

// The transaction family: a transaction within one group
// (transaction.go), the steps of one across groups (twophase.go), and
// holds (hold.go).

func applyTransaction(m *Machine, ctx Context, c *Command) Result { return m.transaction(ctx, c) }
func applyTxBegin(m *Machine, ctx Context, c *Command) Result     { return m.txBegin(ctx, c) }
func applyTxDecide(m *Machine, _ Context, c *Command) Result      { return m.txDecide(c) }
func applyTxPrepare(m *Machine, ctx Context, c *Command) Result   { return m.txPrepare(ctx, c) }
func applyTxFence(m *Machine, _ Context, c *Command) Result       { return m.txFence(c) }

// applyTxFinish commits or aborts a participant's part.
func applyTxFinish(m *Machine, _ Context, c *Command) Result { return m.txFinish(c) }

func applyHold(m *Machine, ctx Context, c *Command) Result       { return m.txHold(ctx, c) }
func applyHoldFinish(m *Machine, ctx Context, c *Command) Result { return m.holdFinish(ctx, c) }
