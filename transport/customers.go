package transport

import (
	"net/http"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Customers (docs/API.md §4.2).

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
