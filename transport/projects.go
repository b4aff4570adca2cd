package transport

import (
	"net/http"

	"github.com/cloudwallet/cloudwallet/engine"
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

func getProject(c *call) *apiError { return c.replyProject(c.project) }
