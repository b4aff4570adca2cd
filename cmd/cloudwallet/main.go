// Command cloudwallet is the Cloud Wallet API server and its command line.
//
//	cloudwallet serve        run a node (bootstraps a single-node cluster on an empty data dir)
//	cloudwallet join         run a node that joins a running cluster (serve --join)
//	cloudwallet cluster      status | remove NODE (operator)
//	cloudwallet project      create|list projects (operator)
//	cloudwallet keypair      create|list|delete key pairs (operator)
//	cloudwallet customer-key mint a Customer Key offline
//	cloudwallet bench        load generator, bare baseline server, standard suite
//	cloudwallet version      print the version
package main

import (
	"fmt"
	"os"
)

// Set by the linker: -X main.version=... -X main.commit=...
var (
	version = "dev"
	commit  = "unknown"
)

const usage = `usage: cloudwallet <command> [flags]

commands:
  serve          run a node (flags: --data-dir --http-addr --peer-addr --shards ...)
  join ADDR      run a node that joins the cluster at internal address ADDR
                 (= serve --join ADDR; needs --cluster-secret[-file])
  cluster        status [--json] | remove NODE_ID      (operator, talks to --server)
  project        create NAME | list                    (operator, talks to --server)
  keypair        create|list|delete --project ID ...   (operator, talks to --server)
  customer-key   --access-key --signature-key --customer [--ttl]  (offline)
  bench          load a running server (--workload uniform|hot|zipf ...); bench baseline; bench suite
  version        print version and commit

Run 'cloudwallet <command> --help' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(args)
	case "join":
		if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
			err = fmt.Errorf("usage: cloudwallet join HOST:PORT [serve flags]")
			break
		}
		err = serve(append([]string{"--join", args[0]}, args[1:]...))
	case "cluster":
		err = clusterCmd(args)
	case "project":
		err = projectCmd(args)
	case "keypair":
		err = keypairCmd(args)
	case "customer-key":
		err = customerKeyCmd(args)
	case "bench":
		err = benchCmd(args)
	case "version":
		fmt.Printf("cloudwallet %s (commit %s)\n", version, commit)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "cloudwallet: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cloudwallet:", err)
		os.Exit(1)
	}
}

// envOr returns the environment variable, or def when unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
