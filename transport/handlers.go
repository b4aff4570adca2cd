package transport

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/shard"
)

func (s *Server) registerRoutes() {
	t := &s.routes
	op, pr := &t.operator, &t.project
	// §5 operator API
	t.add(op, "POST", "/projects", accessOperator, createProject)
	t.add(op, "GET", "/projects", accessOperator, listProjects)
	t.add(op, "GET", "/projects/{projectId}", accessOperator, getProjectByID)
	t.add(op, "PUT", "/projects/{projectId}/name", accessOperator, renameProject)
	t.add(op, "POST", "/projects/{projectId}/key-pairs", accessOperator, createKeyPair)
	t.add(op, "GET", "/projects/{projectId}/key-pairs", accessOperator, listKeyPairs)
	t.add(op, "DELETE", "/projects/{projectId}/key-pairs/{keyPairId}", accessOperator, deleteKeyPair)
	// §4.1 project and assets
	t.add(pr, "GET", "/project", accessProject, getProject)
	t.add(pr, "POST", "/assets", accessProject, createAsset)
	t.add(pr, "GET", "/assets", accessCustomer, listAssets)
	t.add(pr, "GET", "/assets/{assetId}", accessCustomer, getAsset)
	t.add(pr, "PUT", "/assets/{assetId}/name", accessProject, renameAsset)
	t.add(pr, "DELETE", "/assets/{assetId}", accessProject, deleteAsset)
	// §4.2 customers
	t.add(pr, "POST", "/customers", accessProject, upsertCustomerBody)
	t.add(pr, "PUT", "/customers/{customerId}", accessCustomer, upsertCustomerPath)
	t.add(pr, "GET", "/customers/{customerId}", accessCustomer, getCustomer)
	t.add(pr, "GET", "/customers", accessProject, listCustomers)
	t.add(pr, "POST", "/customers/{customerId}/suspend", accessProject, suspendCustomer)
	t.add(pr, "POST", "/customers/{customerId}/resume", accessProject, resumeCustomer)
	t.add(pr, "DELETE", "/customers/{customerId}", accessProject, deleteCustomer)
	// §4.3 wallets
	t.add(pr, "POST", "/wallets", accessProject, createWallet)
	t.add(pr, "POST", "/system-wallets", accessProject, createSystemWallet)
	t.add(pr, "GET", "/wallets/{walletId}", accessCustomer, getWallet)
	t.add(pr, "GET", "/customers/{customerId}/wallets", accessCustomer, listCustomerWallets)
	t.add(pr, "GET", "/wallets", accessCustomerOnly, listOwnWallets)
	t.add(pr, "GET", "/system-wallets", accessProject, listSystemWallets)
	t.add(pr, "PUT", "/wallets/{walletId}/name", accessCustomer, setWalletName)
	t.add(pr, "PUT", "/wallets/{walletId}/description", accessCustomer, setWalletDescription)
	t.add(pr, "PUT", "/wallets/{walletId}/status", accessProject, setWalletStatus)
	t.add(pr, "GET", "/wallets/{walletId}/entries", accessCustomer, listEntries)
	// §4.4 transactions
	t.add(pr, "POST", "/transactions", accessProject, postTransaction)
	t.add(pr, "GET", "/transactions/{txId}", accessProject, getTransaction)
	t.add(pr, "GET", "/transactions", accessProject, listTransactions)
}

// ---- §5 operator API ----

type nameReq struct {
	Name *string `json:"name"`
}

func (c *call) nameBody(required bool) (string, *apiError) {
	var req nameReq
	if err := decodeJSON(c.body, &req); err != nil {
		return "", err
	}
	if err := checkText("name", req.Name, required, shard.NameLenMax); err != nil {
		return "", err
	}
	return deref(req.Name), nil
}

func projectResult(v any) any { return projectView(v.(shard.ProjectView)) }

func createProject(c *call) *apiError {
	name, err := c.nameBody(true)
	if err != nil {
		return err
	}
	return c.proposeReply(&shard.Command{Kind: shard.CmdCreateProject, Name: name}, projectResult)
}

func listProjects(c *call) *apiError {
	var ps []shard.ProjectView
	c.s.node.ReadMeta(func(m *shard.Meta) { ps = m.Projects() })
	return c.reply(http.StatusOK, mapAll(ps, projectView))
}

// pathProject is the {projectId} of an operator route.
func (c *call) pathProject() (shard.ProjectID, *apiError) {
	p, ok := shard.ParseProjectID(c.params[0])
	if !ok || !c.s.node.ProjectExists(p) {
		return 0, notFound(shard.ProjectNotFound)
	}
	return p, nil
}

// replyFound answers 200 with view(v), or the not-found code.
func replyFound[T, J any](c *call, v T, ok bool, missing shard.Code, view func(T) J) *apiError {
	if !ok {
		return notFound(missing)
	}
	return c.reply(http.StatusOK, view(v))
}

func (c *call) replyProject(p shard.ProjectID) *apiError {
	var v shard.ProjectView
	var ok bool
	c.s.node.ReadMeta(func(m *shard.Meta) { v, ok = m.ProjectView(p) })
	return replyFound(c, v, ok, shard.ProjectNotFound, projectView)
}

func getProjectByID(c *call) *apiError {
	p, err := c.pathProject()
	if err != nil {
		return err
	}
	return c.replyProject(p)
}

func renameProject(c *call) *apiError {
	p, err := c.pathProject()
	if err != nil {
		return err
	}
	name, err := c.nameBody(true)
	if err != nil {
		return err
	}
	return c.proposeReply(&shard.Command{Kind: shard.CmdRenameProject, Project: p, Name: name}, projectResult)
}

func createKeyPair(c *call) *apiError {
	p, err := c.pathProject()
	if err != nil {
		return err
	}
	name, err := c.nameBody(false)
	if err != nil {
		return err
	}
	return c.proposeReply(engine.NewKeyPairCommand(p, name), func(v any) any {
		kp := v.(shard.KeyPair)
		out := keyPairView(kp)
		out.AccessKey, out.SignatureKey = MintAccessKey(kp), kp.SignatureKey
		return out
	})
}

func listKeyPairs(c *call) *apiError {
	p, err := c.pathProject()
	if err != nil {
		return err
	}
	var kps []shard.KeyPair
	c.s.node.ReadMeta(func(m *shard.Meta) { kps = m.KeyPairs(p) })
	return c.reply(http.StatusOK, mapAll(kps, keyPairView))
}

func deleteKeyPair(c *call) *apiError {
	p, err := c.pathProject()
	if err != nil {
		return err
	}
	k, ok := shard.ParseKeyPairID(c.params[1])
	if !ok {
		return notFound(shard.KeyPairNotFound)
	}
	return c.proposeReply(&shard.Command{Kind: shard.CmdDeleteKeyPair, Project: p, KeyPair: k},
		func(v any) any { return keyPairView(v.(shard.KeyPair)) })
}

// ---- §4.1 project and assets ----

func getProject(c *call) *apiError { return c.replyProject(c.project) }

func assetResult(v any) any { return assetView(v.(shard.Asset)) }

type assetReq struct {
	Name      *string `json:"name"`
	Code      *string `json:"code"`
	Fractions *int64  `json:"fractions"`
}

func createAsset(c *call) *apiError {
	var req assetReq
	if err := decodeJSON(c.body, &req); err != nil {
		return err
	}
	if err := checkText("name", req.Name, true, shard.NameLenMax); err != nil {
		return err
	}
	if err := checkText("code", req.Code, true, shard.AssetCodeLenMax); err != nil {
		return err
	}
	if req.Fractions == nil || *req.Fractions < 1 {
		return invalid("fractions must be a whole number ≥ 1")
	}
	return c.proposeReply(&shard.Command{Kind: shard.CmdCreateAsset, Project: c.project, Name: *req.Name,
		Code: *req.Code, Fractions: *req.Fractions}, assetResult)
}

func listAssets(c *call) *apiError {
	var as []shard.Asset
	c.s.node.ReadMeta(func(m *shard.Meta) { as = m.Assets(c.project) })
	return c.reply(http.StatusOK, assetViews(as))
}

func (c *call) pathAsset() (shard.AssetID, *apiError) {
	a, ok := shard.ParseAssetID(c.params[0])
	if !ok {
		return 0, notFound(shard.AssetNotFound)
	}
	return a, nil
}

func getAsset(c *call) *apiError {
	id, err := c.pathAsset()
	if err != nil {
		return err
	}
	var a shard.Asset
	var ok bool
	c.s.node.ReadMeta(func(m *shard.Meta) { a, ok = m.Asset(c.project, id) })
	return replyFound(c, a, ok, shard.AssetNotFound, assetView)
}

func renameAsset(c *call) *apiError {
	id, err := c.pathAsset()
	if err != nil {
		return err
	}
	name, err := c.nameBody(true)
	if err != nil {
		return err
	}
	return c.proposeReply(&shard.Command{Kind: shard.CmdRenameAsset, Project: c.project, Asset: id, Name: name}, assetResult)
}

func deleteAsset(c *call) *apiError {
	id, err := c.pathAsset()
	if err != nil {
		return err
	}
	return c.proposeReply(&shard.Command{Kind: shard.CmdDeleteAsset, Project: c.project, Asset: id}, assetResult)
}

// ---- §4.2 customers ----

func customerResult(v any) any { return customerView(v.(shard.CustomerView)) }

type customerReq struct {
	ID          *string `json:"id"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// parseCustomer reads an upsert body: POST /customers carries the id
// (pathID == ""), PUT /customers/{id} takes it from the path and its body
// is optional.
func parseCustomer(body []byte, project shard.ProjectID, pathID string) (*shard.Command, *apiError) {
	var req customerReq
	if pathID == "" || len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return nil, err
		}
	}
	id := pathID
	if id == "" {
		if req.ID == nil {
			return nil, invalid("id is required")
		}
		id = *req.ID
	}
	if !shard.ValidCustomerID(id) {
		return nil, invalid("customer id must be 1-64 chars of A-Z a-z 0-9 _ . : @ -")
	}
	if id == "." || id == ".." {
		// As a path segment the router would resolve it away
		// (/customers/.. is /), so the customer could never be reached.
		return nil, invalid("customer id must not be . or ..: a URL path cannot hold it")
	}
	if err := checkText("name", req.Name, false, shard.NameLenMax); err != nil {
		return nil, err
	}
	if err := checkText("description", req.Description, false, shard.DescriptionLenMax); err != nil {
		return nil, err
	}
	return &shard.Command{Kind: shard.CmdUpsertCustomer, Project: project, Customer: id,
		Name: deref(req.Name), HasName: req.Name != nil, Description: deref(req.Description), HasDesc: req.Description != nil}, nil
}

func upsertCustomerBody(c *call) *apiError {
	cmd, err := parseCustomer(c.body, c.project, "")
	if err != nil {
		return err
	}
	return c.proposeReply(cmd, customerResult)
}

func upsertCustomerPath(c *call) *apiError {
	if err := c.ownCustomer(c.params[0]); err != nil {
		return err
	}
	cmd, err := parseCustomer(c.body, c.project, c.params[0])
	if err != nil {
		return err
	}
	return c.proposeReply(cmd, customerResult)
}

// ownCustomer refuses a Customer Key another customer's record.
func (c *call) ownCustomer(id string) *apiError {
	if c.who.customer != "" && c.who.customer != id {
		return denied("a Customer Key reads only its own customer")
	}
	return nil
}

func getCustomer(c *call) *apiError {
	id := c.params[0]
	if err := c.ownCustomer(id); err != nil {
		return err
	}
	if !shard.ValidCustomerID(id) {
		return notFound(shard.CustomerNotFound)
	}
	var v shard.CustomerView
	var ok bool
	c.s.node.ReadShard(c.s.customerShard(c.project, id), func(s *shard.Shard) { v, ok = s.Customer(c.project, id) })
	return replyFound(c, v, ok, shard.CustomerNotFound, customerView)
}

func listCustomers(c *call) *apiError {
	page, size, err := pageParams(c.query)
	if err != nil {
		return err
	}
	var parts []shard.Part[shard.CustomerView]
	c.s.node.ReadAll(func(m *shard.Machine) { parts = append(parts, m.CustomersPart(c.project, page, size)) })
	p := shard.Merge(parts, shard.CustomerOrder, page, size)
	return c.reply(http.StatusOK, pageOf(p, page, size, customerView))
}

func (c *call) customerCommand(kind shard.Kind) *apiError {
	id := c.params[0]
	if !shard.ValidCustomerID(id) {
		return notFound(shard.CustomerNotFound)
	}
	return c.proposeReply(&shard.Command{Kind: kind, Project: c.project, Customer: id}, customerResult)
}

func suspendCustomer(c *call) *apiError { return c.customerCommand(shard.CmdSuspendCustomer) }
func deleteCustomer(c *call) *apiError  { return c.customerCommand(shard.CmdDeleteCustomer) }

func resumeCustomer(c *call) *apiError {
	id := c.params[0]
	if !shard.ValidCustomerID(id) {
		return notFound(shard.CustomerNotFound)
	}
	var ids []string
	if len(c.body) > 0 {
		if c.body[0] == '{' {
			var req struct {
				WalletIDs []string `json:"walletIds"`
			}
			if err := decodeJSON(c.body, &req); err != nil {
				return err
			}
			ids = req.WalletIDs
		} else if err := decodeJSON(c.body, &ids); err != nil {
			return err
		}
	}
	if len(ids) > shard.ResumeWalletsMax {
		return invalid("at most 1000 wallet ids")
	}
	cmd := &shard.Command{Kind: shard.CmdResumeCustomer, Project: c.project, Customer: id}
	for _, s := range ids {
		w, ok := shard.ParseWalletID(s)
		if !ok {
			return invalid("walletIds: " + truncate(s) + " is not a wallet id")
		}
		cmd.Wallets = append(cmd.Wallets, w)
	}
	return c.proposeReply(cmd, customerResult)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ---- §4.3 wallets ----

func walletResult(v any) any { return walletView(v.(shard.WalletView)) }

type walletReq struct {
	CustomerID  *string `json:"customerId"`
	AssetID     *string `json:"assetId"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

func (c *call) walletCommand(req walletReq, kind shard.Kind) (*shard.Command, *apiError) {
	if req.AssetID == nil {
		return nil, invalid("assetId is required")
	}
	if err := checkText("name", req.Name, false, shard.NameLenMax); err != nil {
		return nil, err
	}
	if err := checkText("description", req.Description, false, shard.DescriptionLenMax); err != nil {
		return nil, err
	}
	a, ok := shard.ParseAssetID(*req.AssetID)
	if !ok {
		return nil, notFound(shard.AssetNotFound)
	}
	return &shard.Command{Kind: kind, Project: c.project, Asset: a, Name: deref(req.Name), Description: deref(req.Description)}, nil
}

func createWallet(c *call) *apiError {
	var req walletReq
	if err := decodeJSON(c.body, &req); err != nil {
		return err
	}
	if req.CustomerID == nil {
		return invalid("customerId is required")
	}
	if !shard.ValidCustomerID(*req.CustomerID) {
		return notFound(shard.CustomerNotFound)
	}
	cmd, err := c.walletCommand(req, shard.CmdCreateWallet)
	if err != nil {
		return err
	}
	cmd.Customer = *req.CustomerID
	return c.proposeReply(cmd, walletResult)
}

func createSystemWallet(c *call) *apiError {
	var req walletReq
	if err := decodeJSON(c.body, &req); err != nil {
		return err
	}
	cmd, err := c.walletCommand(req, shard.CmdCreateSystemWallet)
	if err != nil {
		return err
	}
	cmd.Shard = c.s.node.NextSystemShard()
	return c.proposeReply(cmd, walletResult)
}

// readWallet reads a wallet of the project; a Customer Key gets only its own.
func (c *call) readWallet(s string) (shard.WalletView, *apiError) {
	id, ok := shard.ParseWalletID(s)
	if !ok || int(id.Shard) >= c.s.node.Shards() {
		return shard.WalletView{}, notFound(shard.WalletNotFound)
	}
	var w shard.WalletView
	c.s.node.ReadShard(id.Shard, func(sh *shard.Shard) { w, ok = sh.Wallet(c.project, id.Index) })
	if !ok {
		return w, notFound(shard.WalletNotFound)
	}
	if c.who.customer != "" && w.CustomerID != c.who.customer {
		return w, denied("a Customer Key reaches only its own wallets")
	}
	return w, nil
}

func getWallet(c *call) *apiError {
	w, err := c.readWallet(c.params[0])
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, walletView(w))
}

func (c *call) customerWallets(id string) *apiError {
	if !shard.ValidCustomerID(id) {
		return notFound(shard.CustomerNotFound)
	}
	var ws []shard.WalletView
	var ok bool
	c.s.node.ReadShard(c.s.customerShard(c.project, id), func(s *shard.Shard) { ws, ok = s.CustomerWallets(c.project, id) })
	return replyFound(c, ws, ok, shard.CustomerNotFound, walletViews)
}

func listCustomerWallets(c *call) *apiError {
	if err := c.ownCustomer(c.params[0]); err != nil {
		return err
	}
	return c.customerWallets(c.params[0])
}

func listOwnWallets(c *call) *apiError { return c.customerWallets(c.who.customer) }

func listSystemWallets(c *call) *apiError {
	var parts []shard.Part[shard.WalletView]
	c.s.node.ReadAll(func(m *shard.Machine) { parts = append(parts, m.SystemWalletsPart(c.project)) })
	ws := shard.MergeAll(parts, shard.WalletOrder)
	return c.reply(http.StatusOK, walletViews(ws))
}

// walletUpdate checks access to the wallet, then proposes the change.
func (c *call) walletUpdate(cmd *shard.Command) *apiError {
	w, err := c.readWallet(c.params[0])
	if err != nil {
		return err
	}
	cmd.Project, cmd.Wallet = c.project, w.ID
	return c.proposeReply(cmd, walletResult)
}

func setWalletName(c *call) *apiError {
	name, err := c.nameBody(true)
	if err != nil {
		return err
	}
	return c.walletUpdate(&shard.Command{Kind: shard.CmdSetWalletName, Name: name})
}

func setWalletDescription(c *call) *apiError {
	var req struct {
		Description *string `json:"description"`
	}
	if err := decodeJSON(c.body, &req); err != nil {
		return err
	}
	if err := checkText("description", req.Description, false, shard.DescriptionLenMax); err != nil {
		return err
	}
	if req.Description == nil {
		return invalid("description is required")
	}
	return c.walletUpdate(&shard.Command{Kind: shard.CmdSetWalletDescription, Description: *req.Description})
}

func setWalletStatus(c *call) *apiError {
	var name string
	if len(c.body) > 0 && c.body[0] == '{' {
		var req struct {
			Status *string `json:"status"`
		}
		if err := decodeJSON(c.body, &req); err != nil {
			return err
		}
		name = deref(req.Status)
	} else if err := decodeJSON(c.body, &name); err != nil {
		return err
	}
	st, ok := shard.ParseWalletStatus(name)
	if !ok {
		return invalid("status must be Open, Suspended or Closed")
	}
	return c.walletUpdate(&shard.Command{Kind: shard.CmdSetWalletStatus, Status: st})
}

func listEntries(c *call) *apiError {
	w, err := c.readWallet(c.params[0])
	if err != nil {
		return err
	}
	from, to, err := timeRange(c.query)
	if err != nil {
		return err
	}
	page, size, err := pageParams(c.query)
	if err != nil {
		return err
	}
	var p shard.Page[shard.EntryView]
	c.s.node.ReadShard(w.ID.Shard, func(s *shard.Shard) { p, _ = s.Entries(c.project, w.ID.Index, from, to, page, size) })
	return c.reply(http.StatusOK, pageOf(p, page, size, entryView))
}

// ---- §4.4 transactions ----

type opReq struct {
	Type        *string        `json:"type"`
	Source      *string        `json:"sourceWalletId"`
	Destination *string        `json:"destinationWalletId"`
	Amount      jsontext.Value `json:"amount"` // a number or a digit string: parseAmount decides
}

type txReq struct {
	ReferenceID *string `json:"referenceId"`
	Operations  []opReq `json:"operations"`
}

// parseTransaction does every check that needs no state (API.md §4.5):
// what it refuses is a 400 and stores nothing.
func parseTransaction(body []byte, project shard.ProjectID, shards int) (*shard.Command, *apiError) {
	var req txReq
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := checkText("referenceId", req.ReferenceID, true, shard.ReferenceIDLenMax); err != nil {
		return nil, err
	}
	if len(req.Operations) < 1 || len(req.Operations) > shard.OperationsPerTxMax {
		return nil, invalid("operations must hold 1 to 1000 operations")
	}
	cmd := &shard.Command{Kind: shard.CmdTransaction, Project: project, ReferenceID: *req.ReferenceID,
		Ops: make([]shard.Op, len(req.Operations))}
	for i, o := range req.Operations {
		if err := parseOp(&o, &cmd.Ops[i], shards); err != nil {
			err.msg = "operations[" + strconv.Itoa(i) + "]" + err.msg // named only when it fails
			return nil, err
		}
	}
	return cmd, nil
}

// parseOp checks one operation. Its error messages start with the field
// within the operation (".amount ..."); the caller prefixes the index.
func parseOp(o *opReq, op *shard.Op, shards int) *apiError {
	if o.Type == nil {
		return invalid(".type is required")
	}
	t, ok := shard.ParseOpType(*o.Type)
	if !ok {
		return invalid(".type must be Transfer, Issue or Redeem")
	}
	op.Type = t
	var err *apiError
	if op.Amount, err = parseAmount(".amount", o.Amount); err != nil {
		return err
	}
	if op.Source, err = opWallet(".sourceWalletId", o.Source, t != shard.OpIssue, shards); err != nil {
		return err
	}
	if op.Destination, err = opWallet(".destinationWalletId", o.Destination, t != shard.OpRedeem, shards); err != nil {
		return err
	}
	if t == shard.OpTransfer && op.Source == op.Destination {
		return invalid(": source and destination must differ")
	}
	return nil
}

// opWallet reads a wallet id field that the operation type requires or forbids.
func opWallet(field string, s *string, want bool, shards int) (shard.WalletID, *apiError) {
	if !want {
		if s != nil && *s != "" {
			return shard.WalletID{}, invalid(field + " is not allowed for this operation type")
		}
		return shard.WalletID{}, nil
	}
	if s == nil || *s == "" {
		return shard.WalletID{}, invalid(field + " is required for this operation type")
	}
	id, ok := shard.ParseWalletID(*s)
	if !ok || int(id.Shard) >= shards {
		return shard.WalletID{}, invalid(field + ": " + truncate(*s) + " is not a wallet id of this server")
	}
	return id, nil
}

func postTransaction(c *call) *apiError {
	cmd, err := parseTransaction(c.body, c.project, c.s.node.Shards())
	if err != nil {
		return err
	}
	r, perr := c.s.node.Propose(proposeCtx, cmd)
	if errors.Is(perr, engine.ErrOutcomeUnknown) {
		// The entry may still commit. If its outcome is final by now, the
		// record gives the definitive answer; otherwise the client waits or
		// retries with the same referenceId (never applied twice).
		tx, final := c.s.node.Recorded(cmd.Project, cmd.ReferenceID)
		switch {
		case tx == nil:
			return c.reply(http.StatusAccepted, txJSON{ReferenceID: cmd.ReferenceID, Status: "Waiting", Operations: opViews(cmd.Ops)})
		case !final:
			v := txView(tx)
			v.Status = "Waiting"
			return c.reply(http.StatusAccepted, v)
		}
		r, perr = shard.Result{Code: tx.ErrCode, Value: tx}, nil
	}
	if perr != nil {
		return fromEngine(perr)
	}
	switch r.Code {
	case shard.OK:
		return c.reply(http.StatusCreated, txView(r.Value.(*shard.Tx)))
	case shard.DuplicateReferenceID:
		return c.reply(http.StatusConflict, duplicateJSON{Status: r.Code.String(),
			Message: "the referenceId was already used; this is the stored transaction", Transaction: txView(r.Value.(*shard.Tx))})
	}
	if tx, ok := r.Value.(*shard.Tx); ok {
		return c.reply(http.StatusUnprocessableEntity, txView(tx))
	}
	return fromResult(r)
}

func getTransaction(c *call) *apiError {
	id, ok := shard.ParseTxID(c.params[0])
	if !ok || int(id.Shard) >= c.s.node.Shards() {
		return notFound(shard.TransactionNotFound)
	}
	var tx *shard.Tx
	c.s.node.ReadShard(id.Shard, func(s *shard.Shard) { tx, ok = s.Tx(c.project, id.Index) })
	return replyFound(c, tx, ok, shard.TransactionNotFound, txView)
}

func listTransactions(c *call) *apiError {
	from, to, err := timeRange(c.query)
	if err != nil {
		return err
	}
	page, size, err := pageParams(c.query)
	if err != nil {
		return err
	}
	var parts []shard.Part[*shard.Tx]
	c.s.node.ReadAll(func(m *shard.Machine) { parts = append(parts, m.TransactionsPart(c.project, from, to, page, size)) })
	p := shard.Merge(parts, shard.TxOrder, page, size)
	return c.reply(http.StatusOK, pageOf(p, page, size, txView))
}
