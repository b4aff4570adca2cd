package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cloudwallet/cloudwallet/client"
	"github.com/cloudwallet/cloudwallet/engine"
)

// operatorClient talks to a running server with the operator token.
type operatorClient struct {
	server, token string
	http          *http.Client
}

func operatorFlags(fs *flag.FlagSet) func() (*operatorClient, error) {
	server := fs.String("server", envOr("CLOUDWALLET_SERVER", "http://127.0.0.1:8080"), "server URL (env CLOUDWALLET_SERVER)")
	token := fs.String("token", envOr("CLOUDWALLET_OPERATOR_TOKEN", ""), "operator token (env CLOUDWALLET_OPERATOR_TOKEN); default: read DATA_DIR/operator.token")
	dataDir := fs.String("data-dir", envOr("CLOUDWALLET_DATA_DIR", "./data"), "data dir to read operator.token from")
	return func() (*operatorClient, error) {
		t := *token
		if t == "" {
			b, err := os.ReadFile(filepath.Join(*dataDir, "operator.token"))
			if err != nil {
				return nil, fmt.Errorf("no --token and no readable operator.token: %w", err)
			}
			t = strings.TrimSpace(string(b))
		}
		return &operatorClient{server: strings.TrimRight(*server, "/"), token: t, http: &http.Client{Timeout: 30 * time.Second}}, nil
	}
}

// do sends a request and prints the JSON answer; a non-2xx answer is an error.
func (c *operatorClient) do(method, path string, body any) error {
	b, status, err := c.send(method, path, body)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, b, "", "  ") == nil {
		b = pretty.Bytes()
	}
	fmt.Println(string(b))
	if status/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d", method, path, status)
	}
	return nil
}

// send sends a request and returns the answer's body and status.
func (c *operatorClient) send(method, path string, body any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.server+path, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return b, resp.StatusCode, err
}

func clusterCmd(args []string) error {
	const usage = "usage: cloudwallet cluster status [--json] | remove NODE_ID   [--server URL] [--token T]"
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("cluster "+args[0], flag.ContinueOnError)
	client := operatorFlags(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	switch args[0] {
	case "status":
		if *asJSON {
			return c.do("GET", "/cluster", nil)
		}
		b, status, err := c.send("GET", "/cluster", nil)
		if err != nil {
			return err
		}
		var st engine.ClusterStatus
		if status != http.StatusOK || json.Unmarshal(b, &st) != nil {
			return fmt.Errorf("GET /cluster: HTTP %d: %s", status, b)
		}
		printStatus(os.Stdout, st)
		return nil
	case "remove":
		if len(pos) != 1 {
			return errors.New(usage)
		}
		return c.do("DELETE", "/cluster/nodes/"+url.PathEscape(pos[0]), nil)
	}
	return fmt.Errorf("unknown cluster subcommand %q (status, remove)", args[0])
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// printStatus writes the cluster status as a table per group.
func printStatus(w io.Writer, st engine.ClusterStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	data := 0
	for _, g := range st.Groups {
		if !g.Meta {
			data++
		}
	}
	fmt.Fprintf(tw, "%d groups and the meta group, %d replicas each (layout version %d)\n", data, st.Replicas, st.LayoutVersion)
	if len(st.Leaving) > 0 {
		fmt.Fprintf(tw, "leaving: %s\n", strings.Join(st.Leaving, ", "))
	}
	for _, g := range st.Groups {
		leader := g.Leader
		if leader == "" {
			leader = "none (no quorum?)"
		}
		if g.Error != "" {
			leader = "unknown: " + g.Error
		}
		what := fmt.Sprintf("%d shards", g.Shards)
		if g.Meta {
			what = "meta: projects, keys, layout"
		}
		fmt.Fprintf(tw, "group %d (%s): leader %s, term %d, placed on %s\n", g.Group, what, leader, g.Term, strings.Join(g.Placed, ", "))
		fmt.Fprintln(tw, "  NODE\tADDRESS\tSUFFRAGE\tSTATE\tTERM\tAPPLIED\tCOMMIT\tLAST")
		for _, n := range g.Nodes {
			if n.Error != "" {
				fmt.Fprintf(tw, "  %s\t%s\t%s\tunreachable: %s\n", n.ID, n.Addr, n.Suffrage, n.Error)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", n.ID, n.Addr, n.Suffrage, n.State, n.Term, n.AppliedIndex, n.CommitIndex, n.LastIndex)
		}
	}
	nodes := make([]string, 0, len(st.NodeGroups))
	for id := range st.NodeGroups {
		nodes = append(nodes, id)
	}
	slices.Sort(nodes)
	fmt.Fprintln(tw, "NODE\tGROUPS")
	for _, id := range nodes {
		fmt.Fprintf(tw, "%s\t%s\n", id, strings.Trim(fmt.Sprint(st.NodeGroups[id]), "[]"))
	}
	fmt.Fprintf(tw, "(as seen from %s)\n", st.Node)
	tw.Flush()
}

func projectCmd(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: cloudwallet project create [--groups K] NAME | list [--server URL] [--token T]")
	}
	fs := flag.NewFlagSet("project "+args[0], flag.ContinueOnError)
	client := operatorFlags(fs)
	groups := fs.Int("groups", 1, "create: the shard groups the project's data lives in (1 to the cluster's --groups)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		if fs.NArg() != 1 {
			return errors.New("usage: cloudwallet project create [--groups K] NAME")
		}
		return c.do("POST", "/projects", map[string]any{"name": fs.Arg(0), "groups": *groups})
	case "list":
		return c.do("GET", "/projects", nil)
	}
	return fmt.Errorf("unknown project subcommand %q (create, list)", args[0])
}

func keypairCmd(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: cloudwallet keypair create|list|delete --project ID [--name N] [KEYPAIR_ID]")
	}
	fs := flag.NewFlagSet("keypair "+args[0], flag.ContinueOnError)
	client := operatorFlags(fs)
	project := fs.String("project", "", "project id (required)")
	name := fs.String("name", "", "key pair name (create)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *project == "" {
		return errors.New("--project is required")
	}
	c, err := client()
	if err != nil {
		return err
	}
	base := "/projects/" + *project + "/key-pairs"
	switch args[0] {
	case "create":
		return c.do("POST", base, map[string]string{"name": *name})
	case "list":
		return c.do("GET", base, nil)
	case "delete":
		if fs.NArg() != 1 {
			return errors.New("usage: cloudwallet keypair delete --project ID KEYPAIR_ID")
		}
		return c.do("DELETE", base+"/"+fs.Arg(0), nil)
	}
	return fmt.Errorf("unknown keypair subcommand %q (create, list, delete)", args[0])
}

func customerKeyCmd(args []string) error {
	fs := flag.NewFlagSet("customer-key", flag.ContinueOnError)
	access := fs.String("access-key", "", "the key pair's Access Key (required)")
	sig := fs.String("signature-key", "", "the key pair's Signature Key (required)")
	customer := fs.String("customer", "", "the customer id (required)")
	ttl := fs.Duration("ttl", 0, "lifetime, e.g. 1h; 0 means no expiry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *access == "" || *sig == "" || *customer == "" {
		return errors.New("--access-key, --signature-key and --customer are required")
	}
	if *ttl < 0 {
		return errors.New("--ttl must not be negative")
	}
	k, err := client.MintCustomerKey(*access, *sig, *customer, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Println(k)
	return nil
}
