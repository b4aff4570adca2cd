package transport

import (
	"context"
	"net/http"

	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/shard"
)

// Customers (docs/API.md §4.2).

func customerResult(v any) any { return customerView(v.(shard.CustomerView)) }

type customerReq struct {
	ID          *string `json:"id"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// customerInput is a checked upsert: the customer's id and the fields
// given.
type customerInput struct {
	id     string
	fields engine.CustomerFields
}

// parseCustomer reads an upsert body: POST /customers carries the id
// (pathID == ""), PUT /customers/{id} takes it from the path and its body
// is optional.
func parseCustomer(body []byte, pathID string) (customerInput, *apiError) {
	var req customerReq
	if pathID == "" || len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return customerInput{}, err
		}
	}
	id := pathID
	if id == "" {
		if req.ID == nil {
			return customerInput{}, invalid("id is required")
		}
		id = *req.ID
	}
	if !shard.ValidCustomerID(id) {
		return customerInput{}, invalid("customer id must be 1-64 chars of A-Z a-z 0-9 _ . : @ -")
	}
	if id == "." || id == ".." {
		// As a path segment the router would resolve it away
		// (/customers/.. is /), so the customer could never be reached.
		return customerInput{}, invalid("customer id must not be . or ..: a URL path cannot hold it")
	}
	if err := checkText("name", req.Name, false, shard.NameLenMax); err != nil {
		return customerInput{}, err
	}
	if err := checkText("description", req.Description, false, shard.DescriptionLenMax); err != nil {
		return customerInput{}, err
	}
	return customerInput{id: id, fields: engine.CustomerFields{Name: req.Name, Description: req.Description}}, nil
}

func (c *call) upsertCustomer(pathID string) *apiError {
	in, err := parseCustomer(c.body, pathID)
	if err != nil {
		return err
	}
	r, werr := c.s.node.UpsertCustomer(proposeCtx, c.who.by(), c.project, in.id, in.fields)
	return c.written(r, werr, customerResult)
}

func upsertCustomerBody(c *call) *apiError { return c.upsertCustomer("") }

func upsertCustomerPath(c *call) *apiError {
	if err := c.ownCustomer(c.params[0]); err != nil {
		return err
	}
	return c.upsertCustomer(c.params[0])
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
	v, ok, rerr := c.s.node.Customer(proposeCtx, c.project, id)
	if rerr != nil {
		return fromEngine(rerr)
	}
	return replyFound(c, v, ok, shard.CustomerNotFound, customerView)
}

func listCustomers(c *call) *apiError {
	page, size, err := pageParams(c.query)
	if err != nil {
		return err
	}
	p, rerr := c.s.node.Customers(proposeCtx, c.project, page, size)
	if rerr != nil {
		return fromEngine(rerr)
	}
	return c.reply(http.StatusOK, pageOf(p, page, size, customerView))
}

// customerOp runs a write about the customer of the path.
func (c *call) customerOp(op func(ctx context.Context, by shard.By, p shard.ProjectID, id string) (shard.Result, error)) *apiError {
	id := c.params[0]
	if !shard.ValidCustomerID(id) {
		return notFound(shard.CustomerNotFound)
	}
	r, err := op(proposeCtx, c.who.by(), c.project, id)
	return c.written(r, err, customerResult)
}

func suspendCustomer(c *call) *apiError { return c.customerOp(c.s.node.SuspendCustomer) }
func deleteCustomer(c *call) *apiError  { return c.customerOp(c.s.node.DeleteCustomer) }

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
	var reopen []shard.WalletID
	for _, s := range ids {
		w, ok := shard.ParseWalletID(s)
		if !ok {
			return invalid("walletIds: " + truncate(s) + " is not a wallet id")
		}
		reopen = append(reopen, w)
	}
	r, err := c.s.node.ResumeCustomer(proposeCtx, c.who.by(), c.project, id, reopen)
	return c.written(r, err, customerResult)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
