package client

import (
	"context"
	"strconv"
)

// The project API (Access Key; a Customer Key where the API allows it):
// the project, assets, customers, wallets and their entries.

// Project reads the key's project.
func (c *Client) Project(ctx context.Context) (Project, error) {
	var p Project
	return p, c.call(ctx, "GET", "/project", nil, &p)
}

// CreateAsset makes an asset; fractions is how many of its smallest unit make one (100 for cents).
func (c *Client) CreateAsset(ctx context.Context, name, code string, fractions int64) (Asset, error) {
	var a Asset
	return a, c.call(ctx, "POST", "/assets", map[string]any{"name": name, "code": code, "fractions": fractions}, &a)
}

// Assets lists the project's assets.
func (c *Client) Assets(ctx context.Context) ([]Asset, error) {
	var as []Asset
	return as, c.call(ctx, "GET", "/assets", nil, &as)
}

// Asset reads an asset.
func (c *Client) Asset(ctx context.Context, id string) (Asset, error) {
	var a Asset
	return a, c.call(ctx, "GET", "/assets/"+pathEscape(id), nil, &a)
}

// RenameAsset renames an asset.
func (c *Client) RenameAsset(ctx context.Context, id, name string) (Asset, error) {
	var a Asset
	return a, c.call(ctx, "PUT", "/assets/"+pathEscape(id)+"/name", map[string]string{"name": name}, &a)
}

// DeleteAsset deletes an asset no wallet uses.
func (c *Client) DeleteAsset(ctx context.Context, id string) (Asset, error) {
	var a Asset
	return a, c.call(ctx, "DELETE", "/assets/"+pathEscape(id), nil, &a)
}

// CustomerFields are an upsert's optional fields: nil leaves one as it is.
type CustomerFields struct {
	Name, Description *string
}

func (f CustomerFields) body() map[string]any {
	b := map[string]any{}
	if f.Name != nil {
		b["name"] = *f.Name
	}
	if f.Description != nil {
		b["description"] = *f.Description
	}
	return b
}

// UpsertCustomer makes a customer or changes the given fields of one.
func (c *Client) UpsertCustomer(ctx context.Context, id string, f CustomerFields) (Customer, error) {
	var cu Customer
	return cu, c.call(ctx, "PUT", "/customers/"+pathEscape(id), f.body(), &cu)
}

// Customer reads a customer (a Deleted one too).
func (c *Client) Customer(ctx context.Context, id string) (Customer, error) {
	var cu Customer
	return cu, c.call(ctx, "GET", "/customers/"+pathEscape(id), nil, &cu)
}

// Customers lists the project's customers, oldest first (page from 0).
func (c *Client) Customers(ctx context.Context, page, pageSize int) (Page[Customer], error) {
	var p Page[Customer]
	return p, c.call(ctx, "GET", "/customers"+pageQuery(page, pageSize), nil, &p)
}

// SuspendCustomer suspends a customer and its Open wallets.
func (c *Client) SuspendCustomer(ctx context.Context, id string) (Customer, error) {
	var cu Customer
	return cu, c.call(ctx, "POST", "/customers/"+pathEscape(id)+"/suspend", nil, &cu)
}

// ResumeCustomer makes a customer Active again, and the listed wallets of
// it Open.
func (c *Client) ResumeCustomer(ctx context.Context, id string, openWallets ...string) (Customer, error) {
	var cu Customer
	if openWallets == nil {
		openWallets = []string{}
	}
	return cu, c.call(ctx, "POST", "/customers/"+pathEscape(id)+"/resume", openWallets, &cu)
}

// DeleteCustomer deletes a customer whose wallets are all Closed.
func (c *Client) DeleteCustomer(ctx context.Context, id string) (Customer, error) {
	var cu Customer
	return cu, c.call(ctx, "DELETE", "/customers/"+pathEscape(id), nil, &cu)
}

// CreateWallet makes a wallet of an asset for a customer.
func (c *Client) CreateWallet(ctx context.Context, customer, asset string) (Wallet, error) {
	var w Wallet
	return w, c.call(ctx, "POST", "/wallets", map[string]string{"customerId": customer, "assetId": asset}, &w)
}

// CreateSystemWallet makes a wallet of the project itself.
func (c *Client) CreateSystemWallet(ctx context.Context, asset string) (Wallet, error) {
	var w Wallet
	return w, c.call(ctx, "POST", "/system-wallets", map[string]string{"assetId": asset}, &w)
}

// Wallet reads a wallet.
func (c *Client) Wallet(ctx context.Context, id string) (Wallet, error) {
	var w Wallet
	return w, c.call(ctx, "GET", "/wallets/"+pathEscape(id), nil, &w)
}

// CustomerWallets lists a customer's wallets.
func (c *Client) CustomerWallets(ctx context.Context, customer string) ([]Wallet, error) {
	var ws []Wallet
	return ws, c.call(ctx, "GET", "/customers/"+pathEscape(customer)+"/wallets", nil, &ws)
}

// OwnWallets lists the wallets of a Customer Key's customer.
func (c *Client) OwnWallets(ctx context.Context) ([]Wallet, error) {
	var ws []Wallet
	return ws, c.call(ctx, "GET", "/wallets", nil, &ws)
}

// SystemWallets lists the project's system wallets.
func (c *Client) SystemWallets(ctx context.Context) ([]Wallet, error) {
	var ws []Wallet
	return ws, c.call(ctx, "GET", "/system-wallets", nil, &ws)
}

// SetWalletName names a wallet.
func (c *Client) SetWalletName(ctx context.Context, id, name string) (Wallet, error) {
	var w Wallet
	return w, c.call(ctx, "PUT", "/wallets/"+pathEscape(id)+"/name", map[string]string{"name": name}, &w)
}

// SetWalletDescription describes a wallet.
func (c *Client) SetWalletDescription(ctx context.Context, id, description string) (Wallet, error) {
	var w Wallet
	return w, c.call(ctx, "PUT", "/wallets/"+pathEscape(id)+"/description", map[string]string{"description": description}, &w)
}

// SetWalletStatus sets a wallet Open, Suspended or Closed.
func (c *Client) SetWalletStatus(ctx context.Context, id, status string) (Wallet, error) {
	var w Wallet
	return w, c.call(ctx, "PUT", "/wallets/"+pathEscape(id)+"/status", map[string]string{"status": status}, &w)
}

// TimeRange selects from ≤ createdAt < to, in Unix milliseconds; zero
// values leave a side open.
type TimeRange struct{ From, To int64 }

func (r TimeRange) query() string {
	q := ""
	if r.From != 0 {
		q += "&from=" + strconv.FormatInt(r.From, 10)
	}
	if r.To != 0 {
		q += "&to=" + strconv.FormatInt(r.To, 10)
	}
	return q
}

// Entries lists a wallet's entries in the range, oldest first, with the
// balance after each.
func (c *Client) Entries(ctx context.Context, wallet string, r TimeRange, page, pageSize int) (Page[Entry], error) {
	var p Page[Entry]
	return p, c.call(ctx, "GET", "/wallets/"+pathEscape(wallet)+"/entries"+pageQuery(page, pageSize)+r.query(), nil, &p)
}
