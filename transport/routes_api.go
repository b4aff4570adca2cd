package transport

import (
	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/shard"
)

// The API's route table: every endpoint of docs/API.md, its access and its
// handler. The OpenAPI document names the same set (a test checks it).

func (s *Server) registerRoutes() {
	t := &s.routes
	op, pr := &t.operator, &t.project
	// §5 operator API
	t.add(op, "POST", "/projects", accessOperator, createProject)
	t.read(op, "/projects", accessOperator, scopeMeta, listProjects)
	t.read(op, "/projects/{projectId}", accessOperator, scopeMeta, getProjectByID)
	t.add(op, "PUT", "/projects/{projectId}/name", accessOperator, renameProject)
	t.add(op, "POST", "/projects/{projectId}/key-pairs", accessOperator, createKeyPair)
	t.read(op, "/projects/{projectId}/key-pairs", accessOperator, scopeMeta, listKeyPairs)
	t.add(op, "DELETE", "/projects/{projectId}/key-pairs/{keyPairId}", accessOperator, deleteKeyPair)
	// §4.1 project and assets
	t.read(pr, "/project", accessProject, scopeMeta, getProject)
	t.add(pr, "POST", "/assets", accessProject, createAsset)
	t.read(pr, "/assets", accessCustomer, scopeMeta, listAssets)
	t.read(pr, "/assets/{assetId}", accessCustomer, scopeMeta, getAsset)
	t.add(pr, "PUT", "/assets/{assetId}/name", accessProject, renameAsset)
	t.add(pr, "DELETE", "/assets/{assetId}", accessProject, deleteAsset)
	// §4.2 customers
	t.add(pr, "POST", "/customers", accessProject, upsertCustomerBody)
	t.add(pr, "PUT", "/customers/{customerId}", accessCustomer, upsertCustomerPath)
	t.read(pr, "/customers/{customerId}", accessCustomer, scopeCustomer, getCustomer)
	t.read(pr, "/customers", accessProject, scopeProject, listCustomers)
	t.add(pr, "POST", "/customers/{customerId}/suspend", accessProject, suspendCustomer)
	t.add(pr, "POST", "/customers/{customerId}/resume", accessProject, resumeCustomer)
	t.add(pr, "DELETE", "/customers/{customerId}", accessProject, deleteCustomer)
	// §4.3 wallets
	t.add(pr, "POST", "/wallets", accessProject, createWallet)
	t.add(pr, "POST", "/system-wallets", accessProject, createSystemWallet)
	t.read(pr, "/wallets/{walletId}", accessCustomer, scopeWallet, getWallet)
	t.read(pr, "/customers/{customerId}/wallets", accessCustomer, scopeCustomer, listCustomerWallets)
	t.read(pr, "/wallets", accessCustomerOnly, scopeOwnCustomer, listOwnWallets)
	t.read(pr, "/system-wallets", accessProject, scopeProject, listSystemWallets)
	t.add(pr, "PUT", "/wallets/{walletId}/name", accessCustomer, setWalletName)
	t.add(pr, "PUT", "/wallets/{walletId}/description", accessCustomer, setWalletDescription)
	t.add(pr, "PUT", "/wallets/{walletId}/status", accessProject, setWalletStatus)
	t.read(pr, "/wallets/{walletId}/entries", accessCustomer, scopeWallet, listEntries)
	// §4.4 transactions
	t.add(pr, "POST", "/transactions", accessProject, postTransaction)
	t.add(pr, "POST", "/transactions/batch", accessProject, postTransactionBatch)
	t.read(pr, "/transactions/{txId}", accessCustomer, scopeTransaction, getTransaction)
	t.read(pr, "/transactions", accessCustomer, scopeProject, listTransactions)
	// holds
	t.add(pr, "POST", "/transactions/{txId}/capture", accessProject, captureHold)
	t.add(pr, "POST", "/transactions/{txId}/void", accessProject, voidHold)
}

// The groups each read touches: its strong read confirms only those.

func scopeMeta(c *call) engine.Scope    { return c.s.node.MetaScope() }
func scopeProject(c *call) engine.Scope { return c.s.node.ProjectScope(c.project) }
func scopeCustomer(c *call) engine.Scope {
	return c.s.node.CustomerScope(c.project, c.params[0])
}
func scopeOwnCustomer(c *call) engine.Scope {
	return c.s.node.CustomerScope(c.project, c.who.customer)
}
func scopeWallet(c *call) engine.Scope {
	if id, ok := shard.ParseWalletID(c.params[0]); ok {
		return c.s.node.ShardScope(id.Shard)
	}
	return 0 // not found without a look
}
func scopeTransaction(c *call) engine.Scope {
	if id, ok := shard.ParseTxID(c.params[0]); ok {
		return c.s.node.ShardScope(id.Shard)
	}
	return 0
}
