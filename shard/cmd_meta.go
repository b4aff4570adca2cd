package shard

// The meta family: projects, key pairs and assets (meta.go holds the
// rules), and the fence.

func applyCreateProject(m *Machine, ctx Context, c *Command) Result {
	return m.Meta.createProject(ctx, c, m.Layout.Groups)
}
func applyRenameProject(m *Machine, _ Context, c *Command) Result { return m.Meta.renameProject(c) }
func applyCreateKeyPair(m *Machine, ctx Context, c *Command) Result {
	return m.Meta.createKeyPair(ctx, c)
}
func applyDeleteKeyPair(m *Machine, _ Context, c *Command) Result {
	r := m.Meta.deleteKeyPair(c)
	if r.Code == OK {
		m.revoke(c.KeyPair)
	}
	return r
}

// applyRevokeKeyPair runs in the other groups once the meta group deleted
// the key pair (the engine proposes it).
func applyRevokeKeyPair(m *Machine, _ Context, c *Command) Result {
	m.revoke(c.KeyPair)
	return Result{}
}
func applyCreateAsset(m *Machine, ctx Context, c *Command) Result { return m.Meta.createAsset(ctx, c) }
func applyRenameAsset(m *Machine, _ Context, c *Command) Result   { return m.Meta.renameAsset(c) }
func applyDeleteAsset(m *Machine, _ Context, c *Command) Result   { return m.Meta.deleteAsset(c) }

// applyUseAsset runs in the meta group only (as every meta command: Apply
// refuses it elsewhere).
func applyUseAsset(m *Machine, _ Context, c *Command) Result {
	return m.Meta.useAsset(c)
}

// applyFence: raftfsm handles fences; a machine never sees one.
func applyFence(*Machine, Context, *Command) Result { return Result{} }
