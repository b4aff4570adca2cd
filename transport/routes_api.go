package transport

// The API's route table: every endpoint of docs/API.md, its access and its
// handler. The OpenAPI document names the same set (a test checks it).

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
