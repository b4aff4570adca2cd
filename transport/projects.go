package transport

import (
	"fmt"
	"net/http"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Projects and key pairs (docs/API.md §5, the operator token) and the
// Access Key's own project (§4.1).

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

type createProjectReq struct {
	Name   *string `json:"name"`
	Groups *int64  `json:"groups"`
}

// createProject makes a project in "groups" of the cluster's shard groups
// (default 1): its customers, wallets and transactions live there only.
func createProject(c *call) *apiError {
	var req createProjectReq
	if err := decodeJSON(c.body, &req); err != nil {
		return err
	}
	if err := checkText("name", req.Name, true, shard.NameLenMax); err != nil {
		return err
	}
	groups := int64(1)
	if req.Groups != nil {
		groups = *req.Groups
	}
	if g := c.s.node.Groups(); groups < 1 || groups > int64(g) {
		return invalid(fmt.Sprintf("groups must be 1 to %d, the shard groups of this cluster", g))
	}
	r, werr := c.s.node.CreateProject(proposeCtx, *req.Name, int(groups))
	return c.written(r, werr, projectResult)
}

func listProjects(c *call) *apiError {
	return c.reply(http.StatusOK, mapAll(c.s.node.Projects(), projectView))
}

// pathProject is the {projectId} of an operator route.
func (c *call) pathProject() (shard.ProjectID, *apiError) {
	p, ok := shard.ParseProjectID(c.params[0])
	if !ok || !c.s.node.ProjectExists(p) {
		return 0, notFound(shard.ProjectNotFound)
	}
	return p, nil
}

func (c *call) replyProject(p shard.ProjectID) *apiError {
	v, ok := c.s.node.Project(p)
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
	r, werr := c.s.node.RenameProject(proposeCtx, p, name)
	return c.written(r, werr, projectResult)
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
	r, werr := c.s.node.CreateKeyPair(proposeCtx, p, name)
	return c.written(r, werr, func(v any) any {
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
	return c.reply(http.StatusOK, mapAll(c.s.node.KeyPairs(p), keyPairView))
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
	r, werr := c.s.node.DeleteKeyPair(proposeCtx, p, k)
	return c.written(r, werr, func(v any) any { return keyPairView(v.(shard.KeyPair)) })
}

func getProject(c *call) *apiError { return c.replyProject(c.project) }
