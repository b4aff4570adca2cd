package transport

import (
	"net/http"

	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/shard"
)

// Wallets and their entries (docs/API.md §4.3).

func walletResult(v any) any { return walletView(v.(shard.WalletView)) }

type walletReq struct {
	CustomerID  *string `json:"customerId"`
	AssetID     *string `json:"assetId"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// newWallet checks a create body's asset and texts.
func newWallet(req walletReq) (engine.NewWallet, *apiError) {
	if req.AssetID == nil {
		return engine.NewWallet{}, invalid("assetId is required")
	}
	if err := checkText("name", req.Name, false, shard.NameLenMax); err != nil {
		return engine.NewWallet{}, err
	}
	if err := checkText("description", req.Description, false, shard.DescriptionLenMax); err != nil {
		return engine.NewWallet{}, err
	}
	a, ok := shard.ParseAssetID(*req.AssetID)
	if !ok {
		return engine.NewWallet{}, notFound(shard.AssetNotFound)
	}
	return engine.NewWallet{Asset: a, Name: deref(req.Name), Description: deref(req.Description)}, nil
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
	w, err := newWallet(req)
	if err != nil {
		return err
	}
	w.Customer = *req.CustomerID
	r, werr := c.s.node.CreateWallet(proposeCtx, c.who.by(), c.project, w)
	return c.written(r, werr, walletResult)
}

func createSystemWallet(c *call) *apiError {
	var req walletReq
	if err := decodeJSON(c.body, &req); err != nil {
		return err
	}
	w, err := newWallet(req) // no Customer: a system wallet
	if err != nil {
		return err
	}
	r, werr := c.s.node.CreateWallet(proposeCtx, c.who.by(), c.project, w)
	return c.written(r, werr, walletResult)
}

// readWallet reads a wallet of the project; a Customer Key gets only its
// own. settle (with a linearizable read) finishes first the transactions
// across groups that hold it; a caller that reads the wallet again for its
// answer (its entries) settles there instead.
func (c *call) readWallet(s string, settle bool) (shard.WalletView, *apiError) {
	id, ok := shard.ParseWalletID(s)
	if !ok {
		return shard.WalletView{}, notFound(shard.WalletNotFound)
	}
	w, ok, err := c.s.node.Wallet(proposeCtx, settle && c.strong, c.project, id)
	if err != nil {
		return w, unsettled(err)
	}
	if !ok {
		return w, notFound(shard.WalletNotFound)
	}
	if c.who.customer != "" && w.CustomerID != c.who.customer {
		return w, denied("a Customer Key reaches only its own wallets")
	}
	return w, nil
}

func getWallet(c *call) *apiError {
	w, err := c.readWallet(c.params[0], true)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, walletView(w))
}

func (c *call) customerWallets(id string) *apiError {
	if !shard.ValidCustomerID(id) {
		return notFound(shard.CustomerNotFound)
	}
	ws, ok, err := c.s.node.CustomerWallets(proposeCtx, c.strong, c.project, id)
	if err != nil {
		return unsettled(err)
	}
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
	ws, err := c.s.node.SystemWallets(proposeCtx, c.strong, c.project)
	if err != nil {
		return unsettled(err)
	}
	return c.reply(http.StatusOK, walletViews(ws))
}

// walletUpdate runs change on the wallet of the path. Whether the wallet
// is the project's and a Customer Key's own is checked where the change
// applies, in log order: no read comes before the write.
func (c *call) walletUpdate(change func(w shard.WalletID) (shard.Result, error)) *apiError {
	id, ok := shard.ParseWalletID(c.params[0])
	if !ok {
		return notFound(shard.WalletNotFound)
	}
	r, werr := change(id)
	return c.written(r, werr, walletResult)
}

func setWalletName(c *call) *apiError {
	name, err := c.nameBody(true)
	if err != nil {
		return err
	}
	return c.walletUpdate(func(w shard.WalletID) (shard.Result, error) {
		return c.s.node.SetWalletName(proposeCtx, c.who.by(), c.project, w, name)
	})
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
	return c.walletUpdate(func(w shard.WalletID) (shard.Result, error) {
		return c.s.node.SetWalletDescription(proposeCtx, c.who.by(), c.project, w, *req.Description)
	})
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
	return c.walletUpdate(func(w shard.WalletID) (shard.Result, error) {
		return c.s.node.SetWalletStatus(proposeCtx, c.who.by(), c.project, w, st)
	})
}

func listEntries(c *call) *apiError {
	w, err := c.readWallet(c.params[0], false) // exists and is the caller's; the entries read settles
	if err != nil {
		return err
	}
	q, err := rangedPageParams(c.query)
	if err != nil {
		return err
	}
	p, eerr := c.s.node.Entries(proposeCtx, c.strong, c.project, w.ID, q.from, q.to, q.page, q.size)
	if eerr != nil {
		return unsettled(eerr)
	}
	return c.reply(http.StatusOK, pageOf(p, q.page, q.size, entryView))
}
