package transport

import (
	"net/http"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Assets (docs/API.md §4.1).

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
