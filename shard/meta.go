package shard

import "fmt"

// Meta is the meta partition: projects, assets and key pairs. Ids are dense
// indexes into its slices; nothing is ever removed (deletes are flags), so an
// id keeps meaning the same object forever. Owned by whoever applies to it
// (the engine's meta worker); it has no lock.
type Meta struct {
	projects []Project
	assets   []Asset
	keyPairs []KeyPair
	// groupLoad[g] counts the projects that live in group g: new projects
	// go to the least loaded groups. Derived from projects (rebuilt on
	// restore), never stored.
	groupLoad []int
	layout    GroupLayout // where the groups live (layout.go); replaced whole, never changed in place
}

func newMeta() *Meta { return &Meta{} }

// Project returns the project or nil.
func (m *Meta) Project(p ProjectID) *Project {
	if int(p) >= len(m.projects) {
		return nil
	}
	return &m.projects[p]
}

// asset returns the live asset of the project, or nil.
func (m *Meta) asset(p ProjectID, a AssetID) *Asset {
	if int(a) >= len(m.assets) {
		return nil
	}
	x := &m.assets[a]
	if x.Project != p || x.Deleted {
		return nil
	}
	return x
}

// KeyPair returns the live key pair of the project, or nil.
func (m *Meta) KeyPair(p ProjectID, k KeyPairID) *KeyPair {
	if int(k) >= len(m.keyPairs) {
		return nil
	}
	x := &m.keyPairs[k]
	if x.Project != p || x.Deleted {
		return nil
	}
	return x
}

// createProject makes a project in c.GroupCount of the cluster's groups
// (0: every group), chosen to balance projects over groups and, among
// groups equally loaded, near c.Near: the groups the layout names it the
// preferred leader of.
func (m *Meta) createProject(ctx Context, c *Command, groups int) Result {
	k := c.GroupCount
	if k == 0 {
		k = groups
	}
	if k < 1 || k > groups {
		return Result{Code: ValidationError, Value: fmt.Sprintf("groups must be 1 to %d, the shard groups of the cluster", groups)}
	}
	if len(m.projects) > IndexMax {
		return Result{Code: LimitExceeded}
	}
	m.growLoad(groups)
	id := ProjectID(len(m.projects))
	chosen := chooseGroups(m.groupLoad, m.ledBy(c.Near, groups), k)
	for _, g := range chosen {
		m.groupLoad[g]++
	}
	m.projects = append(m.projects, Project{ID: id, Name: c.Name, CreatedAt: ctx.TimeMs, Groups: chosen})
	return Result{Created: true, Value: m.projectView(id)}
}

// ledBy marks the groups whose preferred leader in the layout is node
// (nil for no node).
func (m *Meta) ledBy(node string, groups int) []bool {
	if node == "" {
		return nil
	}
	led := make([]bool, groups)
	for g, ns := range m.layout.Groups {
		if g < groups && len(ns) > 0 && ns[0] == node {
			led[g] = true
		}
	}
	return led
}

// growLoad sizes groupLoad for a cluster of this many groups.
func (m *Meta) growLoad(groups int) {
	for len(m.groupLoad) < groups {
		m.groupLoad = append(m.groupLoad, 0)
	}
}

func (m *Meta) renameProject(c *Command) Result {
	p := m.Project(c.Project)
	if p == nil {
		return Result{Code: ProjectNotFound}
	}
	p.Name = c.Name
	return Result{Value: m.projectView(c.Project)}
}

func (m *Meta) createKeyPair(ctx Context, c *Command) Result {
	p := m.Project(c.Project)
	if p == nil {
		return Result{Code: ProjectNotFound}
	}
	if len(m.keyPairs) > IndexMax {
		return Result{Code: LimitExceeded}
	}
	id := KeyPairID(len(m.keyPairs))
	m.keyPairs = append(m.keyPairs, KeyPair{
		ID: id, Project: c.Project, Name: c.Name, Secret: c.Secret,
		SignatureKey: c.SignatureKey, CreatedAt: ctx.TimeMs,
	})
	p.KeyPairs = append(p.KeyPairs, id)
	return Result{Created: true, Value: m.keyPairs[id]}
}

func (m *Meta) deleteKeyPair(c *Command) Result {
	k := m.KeyPair(c.Project, c.KeyPair)
	if k == nil {
		return Result{Code: KeyPairNotFound}
	}
	k.Deleted = true
	return Result{Value: *k}
}

func (m *Meta) codeInUse(p *Project, code string) bool {
	for _, a := range p.Assets {
		if x := &m.assets[a]; !x.Deleted && x.Code == code {
			return true
		}
	}
	return false
}

func (m *Meta) createAsset(ctx Context, c *Command) Result {
	p := m.Project(c.Project)
	if p == nil {
		return Result{Code: ProjectNotFound}
	}
	if m.codeInUse(p, c.Code) {
		return Result{Code: ValidationError, Value: "asset code " + c.Code + " is already used in the project"}
	}
	if len(m.assets) > IndexMax {
		return Result{Code: LimitExceeded}
	}
	id := AssetID(len(m.assets))
	m.assets = append(m.assets, Asset{
		ID: id, Project: c.Project, Name: c.Name, Code: c.Code,
		Fractions: c.Fractions, CreatedAt: ctx.TimeMs,
	})
	p.Assets = append(p.Assets, id)
	return Result{Created: true, Value: m.assets[id]}
}

func (m *Meta) renameAsset(c *Command) Result {
	a := m.asset(c.Project, c.Asset)
	if a == nil {
		return Result{Code: AssetNotFound}
	}
	a.Name = c.Name
	return Result{Value: *a}
}

// useAsset marks a live asset used: another group is about to make a wallet
// of it (and the asset can no longer be deleted, even if that fails).
func (m *Meta) useAsset(c *Command) Result {
	a := m.asset(c.Project, c.Asset)
	if a == nil {
		return Result{Code: AssetNotFound}
	}
	a.Used = true
	return Result{Value: *a}
}

func (m *Meta) deleteAsset(c *Command) Result {
	a := m.asset(c.Project, c.Asset)
	if a == nil {
		return Result{Code: AssetNotFound}
	}
	if a.Used {
		return Result{Code: AssetIsUsed}
	}
	a.Deleted = true
	return Result{Value: *a}
}

// ProjectView is a project with its live assets, copied out of the state.
type ProjectView struct {
	ID        ProjectID
	Name      string
	CreatedAt int64
	Groups    []uint16 // shared with the state: never modify
	Assets    []Asset
}

func (m *Meta) projectView(id ProjectID) ProjectView {
	p := &m.projects[id]
	return ProjectView{ID: id, Name: p.Name, CreatedAt: p.CreatedAt, Groups: p.Groups, Assets: m.Assets(id)}
}

// ProjectView returns a copy of the project, or false.
func (m *Meta) ProjectView(id ProjectID) (ProjectView, bool) {
	if m.Project(id) == nil {
		return ProjectView{}, false
	}
	return m.projectView(id), true
}

// Projects returns every project in creation order.
func (m *Meta) Projects() []ProjectView {
	out := make([]ProjectView, len(m.projects))
	for i := range m.projects {
		out[i] = m.projectView(ProjectID(i))
	}
	return out
}

// Assets returns copies of the project's live assets in creation order.
func (m *Meta) Assets(id ProjectID) []Asset {
	p := m.Project(id)
	if p == nil {
		return nil
	}
	out := make([]Asset, 0, len(p.Assets))
	for _, a := range p.Assets {
		if !m.assets[a].Deleted {
			out = append(out, m.assets[a])
		}
	}
	return out
}

// Asset returns a copy of the project's live asset, or false.
func (m *Meta) Asset(p ProjectID, a AssetID) (Asset, bool) {
	x := m.asset(p, a)
	if x == nil {
		return Asset{}, false
	}
	return *x, true
}

// DeletedKeyPairs lists every deleted key pair, oldest first.
func (m *Meta) DeletedKeyPairs() []KeyPairID {
	var out []KeyPairID
	for i := range m.keyPairs {
		if m.keyPairs[i].Deleted {
			out = append(out, KeyPairID(i))
		}
	}
	return out
}

// KeyPairs returns copies of the project's live key pairs in creation order.
func (m *Meta) KeyPairs(id ProjectID) []KeyPair {
	p := m.Project(id)
	if p == nil {
		return nil
	}
	out := make([]KeyPair, 0, len(p.KeyPairs))
	for _, k := range p.KeyPairs {
		if !m.keyPairs[k].Deleted {
			out = append(out, m.keyPairs[k])
		}
	}
	return out
}
