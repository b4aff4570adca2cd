package transport

import (
	"net/http"

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
