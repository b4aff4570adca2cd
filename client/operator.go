package client

import (
	"context"
	"encoding/json"
	"strconv"
)

// The operator API (operator token): projects, key pairs, the cluster.

// CreateProject makes a project in groups of the cluster's shard groups
// (0: the server's default, 1).
func (c *Client) CreateProject(ctx context.Context, name string, groups int) (Project, error) {
	body := map[string]any{"name": name}
	if groups > 0 {
		body["groups"] = groups
	}
	var p Project
	return p, c.call(ctx, "POST", "/projects", body, &p)
}

// Projects lists every project.
func (c *Client) Projects(ctx context.Context) ([]Project, error) {
	var ps []Project
	return ps, c.call(ctx, "GET", "/projects", nil, &ps)
}

// ProjectByID reads a project.
func (c *Client) ProjectByID(ctx context.Context, id string) (Project, error) {
	var p Project
	return p, c.call(ctx, "GET", "/projects/"+pathEscape(id), nil, &p)
}

// RenameProject renames a project.
func (c *Client) RenameProject(ctx context.Context, id, name string) (Project, error) {
	var p Project
	return p, c.call(ctx, "PUT", "/projects/"+pathEscape(id)+"/name", map[string]string{"name": name}, &p)
}

// CreateKeyPair makes a key pair; its secrets are in this answer only.
func (c *Client) CreateKeyPair(ctx context.Context, project, name string) (KeyPair, error) {
	var k KeyPair
	return k, c.call(ctx, "POST", "/projects/"+pathEscape(project)+"/key-pairs", map[string]string{"name": name}, &k)
}

// KeyPairs lists a project's key pairs, without secrets.
func (c *Client) KeyPairs(ctx context.Context, project string) ([]KeyPair, error) {
	var ks []KeyPair
	return ks, c.call(ctx, "GET", "/projects/"+pathEscape(project)+"/key-pairs", nil, &ks)
}

// DeleteKeyPair deletes a key pair: its keys stop working at once.
func (c *Client) DeleteKeyPair(ctx context.Context, project, id string) error {
	return c.call(ctx, "DELETE", "/projects/"+pathEscape(project)+"/key-pairs/"+pathEscape(id), nil, nil)
}

// ClusterStatus is GET /cluster, undecoded beyond JSON: every group, its
// nodes and their indexes (see the OpenAPI document's ClusterStatus).
func (c *Client) ClusterStatus(ctx context.Context) (json.RawMessage, error) {
	var st json.RawMessage
	return st, c.call(ctx, "GET", "/cluster", nil, &st)
}

// RemoveNode takes a node out of the cluster, its replicas moved first.
func (c *Client) RemoveNode(ctx context.Context, nodeID string) error {
	return c.call(ctx, "DELETE", "/cluster/nodes/"+pathEscape(nodeID), nil, nil)
}

// Ready reports whether the node serves requests (GET /readyz is 200).
func (c *Client) Ready(ctx context.Context) (bool, error) {
	a, err := c.send(ctx, "GET", "/readyz", nil)
	if err != nil {
		return false, err
	}
	return a.status == 200, nil
}

// pageQuery is ?page=&pageSize= (pageSize 0: the server's default).
func pageQuery(page, size int) string {
	q := "?page=" + strconv.Itoa(page)
	if size > 0 {
		q += "&pageSize=" + strconv.Itoa(size)
	}
	return q
}
