package shard

import (
	"errors"
	"fmt"

	"github.com/cloudwallet/cloudwallet/internal/bin"
)

// Kind names a command. The numbers are written into the Raft log: never
// reuse or renumber one.
type Kind uint8

const (
	// CmdCreateProject: the engine now proposes CmdCreateProjectNear;
	// logs written before it hold this one, which still applies.
	CmdCreateProject Kind = iota + 1
	CmdRenameProject
	CmdCreateKeyPair
	CmdDeleteKeyPair
	CmdCreateAsset
	CmdRenameAsset
	CmdDeleteAsset
	CmdUpsertCustomer
	CmdSuspendCustomer
	CmdResumeCustomer
	CmdDeleteCustomer
	CmdCreateWallet
	CmdCreateSystemWallet
	CmdSetWalletName
	CmdSetWalletDescription
	CmdSetWalletStatus
	CmdTransaction
	// Transactions across shard groups (twophase.go).
	CmdTxBegin   // the referenceId's group records the transaction as Waiting
	CmdTxPrepare // a participant checks its wallets and holds the debits
	CmdTxDecide  // the referenceId's group records the outcome: the commit point
	CmdTxCommit  // a participant posts its entries and releases its holds
	CmdTxAbort   // a participant releases its holds
	CmdUseAsset  // the meta group marks an asset used before another group makes a wallet of it
	CmdFence     // raftfsm, not the machine: its proposer's commands up to Fence never apply
	// CmdRevokeKeyPair: a group other than the meta group learns that a
	// key pair was deleted, and refuses its writes from then on.
	CmdRevokeKeyPair
	// CmdTxFence: a resolver asks the referenceId's group for the record
	// of a prepared part's attempt, fencing the attempt off if there is
	// none (twophase.go).
	CmdTxFence
	// CmdSetLayout: the meta group's leader sets where the shard groups
	// live (layout.go).
	CmdSetLayout
	// Holds (hold.go).
	CmdHold       // a hold whose wallets live in one group: recorded Held with its reservations
	CmdHoldBegin  // a hold across groups: TxBegin of a record that will be Held
	CmdHoldFinish // capture, void or expiry of a Held record, in its referenceId's group
	// CmdCreateProjectNear: CreateProject that also names the node the
	// request came to; of the groups tied on load, those it is the
	// preferred leader of are chosen first (meta.go).
	CmdCreateProjectNear
	kindEnd
)

// kinds declares every command kind, once: its name (in logs and metric
// labels), where it lives, what it touches, its fields in the log, how it
// applies, and what the engine does around it. Adding a kind is a row here
// and its apply function in its family's file (cmd_meta.go,
// cmd_customers.go, cmd_wallets.go, cmd_transactions.go).
//
// The table is filled by init: apply functions reach back into it (a step
// of a transaction asks Partitions), which a package-level initializer may
// not do.
var kinds [kindEnd]kindSpec

func init() { kinds = kindTable() }

func kindTable() [kindEnd]kindSpec {
	return [kindEnd]kindSpec{
		CmdCreateProject:     {name: "create_project", home: homeMeta, fields: fs(fName, fGroupCount), apply: applyCreateProject, keys: KeysProject},
		CmdCreateProjectNear: {name: "create_project_near", home: homeMeta, fields: fs(fName, fGroupCount, fNear), apply: applyCreateProject, keys: KeysProject},
		CmdRenameProject:     {name: "rename_project", home: homeMeta, fields: fs(fName), apply: applyRenameProject},
		CmdCreateKeyPair:     {name: "create_key_pair", home: homeMeta, fields: fs(fName, fSecret, fSignatureKey), apply: applyCreateKeyPair, keys: KeysPair},
		CmdDeleteKeyPair:     {name: "delete_key_pair", home: homeMeta, everyPart: true, fields: fs(fKeyPair), apply: applyDeleteKeyPair, keys: KeysPair},
		CmdRevokeKeyPair:     {name: "revoke_key_pair", home: homeNamed, everyPart: true, fields: fs(fKeyPair), apply: applyRevokeKeyPair, keys: KeysRevoked},
		CmdCreateAsset:       {name: "create_asset", home: homeMeta, fields: fs(fBy, fName, fCode, fFractions), apply: applyCreateAsset},
		CmdRenameAsset:       {name: "rename_asset", home: homeMeta, fields: fs(fBy, fAsset, fName), apply: applyRenameAsset},
		CmdDeleteAsset:       {name: "delete_asset", home: homeMeta, fields: fs(fBy, fAsset), apply: applyDeleteAsset},
		CmdUseAsset:          {name: "use_asset", home: homeMeta, fields: fs(fAsset), apply: applyUseAsset},
		CmdFence:             {name: "fence", home: homeMeta, fields: fs(fFence), apply: applyFence},
		CmdSetLayout:         {name: "set_layout", home: homeMeta, fields: fs(fLayout), apply: applySetLayout, keys: KeysLayout},

		CmdUpsertCustomer:  {name: "upsert_customer", home: homeCustomer, fields: fs(fBy, fShard, fCustomer, fOptName, fOptDescription), apply: applyUpsertCustomer, counts: HeldCustomers},
		CmdSuspendCustomer: {name: "suspend_customer", home: homeCustomer, fields: fs(fBy, fShard, fCustomer), apply: applySuspendCustomer},
		CmdResumeCustomer:  {name: "resume_customer", home: homeCustomer, fields: fs(fBy, fShard, fCustomer, fWallets), apply: applyResumeCustomer},
		CmdDeleteCustomer:  {name: "delete_customer", home: homeCustomer, fields: fs(fBy, fShard, fCustomer), apply: applyDeleteCustomer},

		CmdCreateWallet:         {name: "create_wallet", home: homeCustomer, withMeta: true, fields: fs(fBy, fOwner, fShard, fAsset, fName, fDescription), apply: applyCreateWallet, counts: HeldWallets, usesAsset: true},
		CmdCreateSystemWallet:   {name: "create_system_wallet", home: homeShard, withMeta: true, fields: fs(fBy, fNoOwner, fShard, fAsset, fName, fDescription), apply: applyCreateSystemWallet, counts: HeldWallets, usesAsset: true},
		CmdSetWalletName:        {name: "set_wallet_name", home: homeWallet, fields: fs(fBy, fWallet, fName, fDescription), apply: applyUpdateWallet},
		CmdSetWalletDescription: {name: "set_wallet_description", home: homeWallet, fields: fs(fBy, fWallet, fName, fDescription), apply: applyUpdateWallet},
		CmdSetWalletStatus:      {name: "set_wallet_status", home: homeWallet, fields: fs(fBy, fWallet, fStatus, fSettled), apply: applyUpdateWallet},

		CmdTransaction: {name: "transaction", home: homeReference, opsWallets: true, fields: fs(fBy, fShard, fReferenceID, fOps, fSettled), apply: applyTransaction, counts: HeldTransactions},
		CmdTxBegin:     {name: "tx_begin", home: homeReference, opsWallets: true, fields: fs(fBy, fShard, fReferenceID, fAttempt, fOps, fSettled), apply: applyTxBegin, counts: HeldTransactions},
		CmdTxPrepare:   {name: "tx_prepare", home: homeNamed, opsWallets: true, fields: fs(fReferenceID, fAttempt, fOps, fSettled), apply: applyTxPrepare},
		CmdTxDecide:    {name: "tx_decide", home: homeReference, opsWallets: true, fields: fs(fShard, fReferenceID, fAttempt, fDecision, fOps), apply: applyTxDecide},
		CmdTxCommit:    {name: "tx_commit", home: homeNamed, opsWallets: true, fields: fs(fReferenceID, fAttempt, fTx, fAt, fOps), apply: applyTxFinish},
		CmdTxAbort:     {name: "tx_abort", home: homeNamed, opsWallets: true, fields: fs(fReferenceID, fAttempt, fOps), apply: applyTxFinish},
		CmdTxFence:     {name: "tx_fence", home: homeReference, fields: fs(fShard, fReferenceID, fAttempt), apply: applyTxFence},

		CmdHold:       {name: "hold", home: homeReference, opsWallets: true, fields: fs(fBy, fShard, fReferenceID, fAttempt, fOps, fSettled, fHoldTimeout), apply: applyHold, counts: HeldTransactions},
		CmdHoldBegin:  {name: "hold_begin", home: homeReference, opsWallets: true, fields: fs(fBy, fShard, fReferenceID, fAttempt, fOps, fSettled, fHoldTimeout), apply: applyTxBegin, counts: HeldTransactions},
		CmdHoldFinish: {name: "hold_finish", home: homeReference, opsWallets: true, fields: fs(fBy, fShard, fReferenceID, fAttempt, fHoldEnd, fOps, fSettled), apply: applyHoldFinish},
	}
}

// kindSpec is one row of the kind table.
type kindSpec struct {
	name string
	// home is the shard the command lives in (see homeKind); withMeta
	// adds the meta partition (wallets check their asset there), and
	// opsWallets the shards of its operations' wallets.
	home       homeKind
	withMeta   bool
	opsWallets bool
	// everyPart: the command holds every partition of the group (it
	// changes what every partition reads: the revoked key pairs).
	everyPart bool
	// fields are the command's fields in the log, in order, after its
	// kind and project: the codec writes and reads exactly these.
	fields []field
	// apply runs the command on a machine (Machine.Apply).
	apply func(m *Machine, ctx Context, c *Command) Result
	// What the engine does around the command: the held count a created
	// result adds, the key cache it changes, whether a group other than
	// the meta group must first mark its asset used.
	counts    Held
	keys      KeyEffect
	usesAsset bool
}

// homeKind says which shard a command belongs to.
type homeKind uint8

const (
	homeMeta      homeKind = iota // the meta partition (group 0)
	homeCustomer                  // Shard: the shard of (Project, Customer) in the project's placement
	homeShard                     // Shard, chosen by the proposer (a system wallet's)
	homeWallet                    // the shard of Wallet
	homeReference                 // Shard: the shard of (Project, ReferenceID) in the project's placement
	homeNamed                     // no shard of its own: the coordinator names the group (a participant's step)
)

func fs(f ...field) []field { return f }

// Valid reports whether k is a known command kind.
func (k Kind) Valid() bool { return k >= CmdCreateProject && k < kindEnd }

func (k Kind) String() string {
	if k.Valid() {
		return kinds[k].name
	}
	return "unknown"
}

// Held names a count of stored objects a command can add to.
type Held uint8

const (
	HeldNone Held = iota
	HeldCustomers
	HeldWallets
	HeldTransactions
)

// Adds is the count a result of this command adds one to, if any: a
// created customer or wallet, a new transaction record.
func (c *Command) Adds(r Result) Held {
	switch h := kinds[c.Kind].counts; h {
	case HeldCustomers, HeldWallets:
		if r.Created {
			return h
		}
	case HeldTransactions:
		if _, ok := r.Value.(*Tx); ok && r.Code != DuplicateReferenceID {
			return h
		}
	}
	return HeldNone
}

// KeyEffect names what a command changes of what the engine keeps beside
// the state: the keys requests are checked against, and the layout.
type KeyEffect uint8

const (
	KeysNone    KeyEffect = iota
	KeysPair              // a key pair made or deleted: the result holds it
	KeysProject           // a project made
	KeysRevoked           // a key pair revoked in a group: the command names it
	KeysLayout            // the layout of the groups set: the result holds it
)

// Keys is what the kind changes of the keys.
func (k Kind) Keys() KeyEffect { return kinds[k].keys }

// UsesAsset reports whether the kind makes a wallet: in a group other than
// the meta group, the asset must be marked used there first (CmdUseAsset).
func (k Kind) UsesAsset() bool { return kinds[k].usesAsset }

// HomeShard is the shard whose group a command goes to; ok is false for a
// command of the meta group, and for a participant's step, whose group the
// coordinator names.
func (c *Command) HomeShard() (s uint16, ok bool) {
	switch kinds[c.Kind].home {
	case homeCustomer, homeShard, homeReference:
		return c.Shard, true
	case homeWallet:
		return c.Wallet.Shard, true
	}
	return 0, false
}

// MetaPartition is the partition number of the meta state; shard i is
// partition i+1.
const MetaPartition = 0

// Partitions appends to dst, in ascending order and without repeats, the
// partitions of a group with layout l that the command reads or writes.
// Apply touches no others. A command about a shard the group does not hold
// gets the meta partition, where Apply refuses it without touching anything.
func (c *Command) Partitions(dst []int, l Layout) []int {
	if !c.Kind.Valid() {
		panic("shard: Partitions of unknown command kind " + c.Kind.String())
	}
	spec := &kinds[c.Kind]
	start := len(dst)
	if spec.everyPart {
		for p := range l.Count + 1 {
			dst = append(dst, p)
		}
		return dst
	}
	if spec.home == homeMeta || spec.withMeta {
		dst = append(dst, MetaPartition)
	}
	if s, ok := c.HomeShard(); ok {
		p, held := l.Partition(s)
		if !held {
			// Not this group's: refused on the meta partition. A
			// transaction's wallets are not looked at either.
			if len(dst) == start {
				dst = append(dst, MetaPartition)
			}
			return dst
		}
		dst = insertSorted(dst, start, p)
	}
	if spec.opsWallets {
		for i := range c.Ops {
			op := &c.Ops[i]
			// A wallet on a shard this group does not hold is not
			// found (or, in a prepare, another group's business)
			// without touching anything.
			if op.Type != OpIssue {
				if p, ok := l.Partition(op.Source.Shard); ok {
					dst = insertSorted(dst, start, p)
				}
			}
			if op.Type != OpRedeem {
				if p, ok := l.Partition(op.Destination.Shard); ok {
					dst = insertSorted(dst, start, p)
				}
			}
		}
	}
	if len(dst) == start {
		dst = append(dst, MetaPartition)
	}
	return dst
}

// insertSorted inserts p into the sorted set dst[start:] if absent.
func insertSorted(dst []int, start, p int) []int {
	i := start
	for i < len(dst) && dst[i] < p {
		i++
	}
	if i < len(dst) && dst[i] == p {
		return dst
	}
	dst = append(dst, 0)
	copy(dst[i+1:], dst[i:])
	dst[i] = p
	return dst
}

// AppendCommand appends c's log encoding: its kind, its project, then the
// fields its kind declares.
func AppendCommand(b []byte, c *Command) []byte {
	if !c.Kind.Valid() {
		panic("shard: encoding unknown command kind " + c.Kind.String())
	}
	b = append(b, byte(c.Kind))
	b = bin.AppendUvarint(b, uint64(c.Project))
	for _, f := range kinds[c.Kind].fields {
		b = f.append(b, c)
	}
	return b
}

// ErrUnknownKind: a command of a kind this version does not know, written
// by a newer version (kinds are only ever added at the end of the table).
var ErrUnknownKind = errors.New("shard: a command kind this version does not know (written by a newer version?)")

// ReadCommand decodes one command, checking every length, id and enum
// against its bound (bin.ErrCorrupt otherwise): whatever it returns can be
// applied without breaking the machine's invariants.
func ReadCommand(r *bin.Reader, c *Command) error {
	c.Kind = Kind(r.Byte())
	c.Project = ProjectID(r.UvarintMax(IndexMax))
	if r.Err() == nil && c.Kind >= kindEnd {
		r.Fail()
		return fmt.Errorf("%w: kind %d", ErrUnknownKind, c.Kind)
	}
	if r.Err() != nil || !c.Kind.Valid() {
		r.Fail()
		return r.Err()
	}
	for _, f := range kinds[c.Kind].fields {
		f.read(r, c)
	}
	return r.Err()
}
