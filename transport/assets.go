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
	r, werr := c.s.node.CreateAsset(proposeCtx, c.who.by(), c.project, *req.Name, *req.Code, *req.Fractions)
	return c.written(r, werr, assetResult)
}

func listAssets(c *call) *apiError {
	return c.reply(http.StatusOK, assetViews(c.s.node.Assets(c.project)))
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
	a, ok := c.s.node.Asset(c.project, id)
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
	r, werr := c.s.node.RenameAsset(proposeCtx, c.who.by(), c.project, id, name)
	return c.written(r, werr, assetResult)
}

func deleteAsset(c *call) *apiError {
	id, err := c.pathAsset()
	if err != nil {
		return err
	}
	r, werr := c.s.node.DeleteAsset(proposeCtx, c.who.by(), c.project, id)
	return c.written(r, werr, assetResult)
}
