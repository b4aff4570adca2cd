package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/shard"
	"github.com/cloudwallet/cloudwallet/transport"
	"github.com/cloudwallet/cloudwallet/wal"
)

type serveFlags struct {
	dataDir, httpAddr, raftAddr, logStore, operatorToken string
	shards, proposalQueue                                int
	readyTimeout                                         time.Duration
}

func parseServeFlags(args []string) (serveFlags, error) {
	var f serveFlags
	def := engine.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&f.dataDir, "data-dir", envOr("CLOUDWALLET_DATA_DIR", "./data"), "data directory (env CLOUDWALLET_DATA_DIR)")
	fs.StringVar(&f.httpAddr, "http-addr", envOr("CLOUDWALLET_HTTP_ADDR", "127.0.0.1:8080"), "HTTP API address (env CLOUDWALLET_HTTP_ADDR)")
	fs.StringVar(&f.raftAddr, "raft-addr", envOr("CLOUDWALLET_RAFT_ADDR", "127.0.0.1:7000"), "Raft address (env CLOUDWALLET_RAFT_ADDR)")
	fs.StringVar(&f.logStore, "log-store", envOr("CLOUDWALLET_LOG_STORE", "wal"), "Raft log store: wal or bolt (env CLOUDWALLET_LOG_STORE)")
	fs.StringVar(&f.operatorToken, "operator-token", envOr("CLOUDWALLET_OPERATOR_TOKEN", ""), "operator token; default: DATA_DIR/operator.token, generated on first start (env CLOUDWALLET_OPERATOR_TOKEN)")
	shards, _ := strconv.Atoi(envOr("CLOUDWALLET_SHARDS", strconv.Itoa(def.Shards)))
	fs.IntVar(&f.shards, "shards", shards, "shards of the group, fixed when the data dir is created (env CLOUDWALLET_SHARDS)")
	fs.IntVar(&f.proposalQueue, "proposal-queue", def.ProposalQueueMax, "writes waiting to be proposed; beyond it writes get 429 LIMIT_EXCEEDED")
	fs.DurationVar(&f.readyTimeout, "ready-timeout", 2*time.Minute, "how long start-up (log replay, election) may take")
	return f, fs.Parse(args)
}

func serve(args []string) error {
	f, err := parseServeFlags(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg := engine.DefaultConfig()
	cfg.DataDir, cfg.RaftAddr, cfg.Shards, cfg.LogStore = f.dataDir, f.raftAddr, f.shards, f.logStore
	cfg.ProposalQueueMax = f.proposalQueue
	log.Info("starting", "version", version, "commit", commit, "dataDir", f.dataDir, "httpAddr", f.httpAddr,
		"raftAddr", f.raftAddr, "shards", f.shards, "logStore", f.logStore)
	start := time.Now()
	node, err := engine.Open(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.readyTimeout)
	err = node.WaitReady(ctx)
	cancel()
	if err != nil {
		node.Close()
		return err
	}
	log.Info("ready", "nodeId", node.ID(), "shards", node.Shards(), "startup", time.Since(start).String())

	token := f.operatorToken
	if token == "" {
		if token, err = loadOrCreateToken(filepath.Join(f.dataDir, "operator.token")); err != nil {
			node.Close()
			return err
		}
	}
	first, err := firstRun(node, f.dataDir)
	if err != nil {
		node.Close()
		return err
	}

	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		node.Close()
		return err
	}
	hcfg := transport.DefaultConfig()
	hcfg.OperatorToken = token
	srv := transport.New(node, hcfg)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "httpAddr", ln.Addr().String())
	if first != nil {
		fmt.Printf("cloudwallet is ready. The default project's keys are in %s\n", filepath.Join(f.dataDir, "default-project.json"))
		fmt.Printf("Try:\n  curl -s http://%s/project -H 'Authorization: Bearer %s'\n", ln.Addr(), first.AccessKey)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-served:
		log.Error("http server stopped", "err", err)
	}
	// Finish requests in flight, then stop Raft and close the logs.
	if err := srv.Shutdown(); err != nil {
		log.Error("http shutdown", "err", err)
	}
	if err := node.Close(); err != nil {
		log.Error("raft shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}

func loadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("%s is empty", path)
		}
		return t, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	t := "op_" + engine.RandomToken(32)
	return t, wal.WriteFileAtomic(path, []byte(t+"\n"), 0o600)
}

// defaultProject is what DATA_DIR/default-project.json holds.
type defaultProject struct {
	ProjectID    string `json:"projectId"`
	KeyPairID    string `json:"keyPairId"`
	AccessKey    string `json:"accessKey"`
	SignatureKey string `json:"signatureKey"`
}

// firstRun creates the default project and its key pair on a new cluster.
// It returns nil when there is nothing to do. A start that crashed half way
// finishes the job (it never creates a second default project).
func firstRun(node *engine.Node, dataDir string) (*defaultProject, error) {
	path := filepath.Join(dataDir, "default-project.json")
	if _, err := os.Stat(path); err == nil {
		return nil, nil
	}
	var projects []shard.ProjectView
	node.ReadMeta(func(m *shard.Meta) { projects = m.Projects() })
	ctx := context.Background()
	var p shard.ProjectID
	switch {
	case len(projects) == 0:
		r, err := node.Propose(ctx, &shard.Command{Kind: shard.CmdCreateProject, Name: "default"})
		if err != nil {
			return nil, err
		}
		p = r.Value.(shard.ProjectView).ID
	case projects[0].Name == "default":
		p = projects[0].ID
	default:
		return nil, nil
	}
	r, err := node.Propose(ctx, engine.NewKeyPairCommand(p, "default"))
	if err != nil {
		return nil, err
	}
	kp := r.Value.(shard.KeyPair)
	d := &defaultProject{ProjectID: p.String(), KeyPairID: kp.ID.String(), AccessKey: transport.MintAccessKey(kp), SignatureKey: kp.SignatureKey}
	b, _ := json.MarshalIndent(d, "", "  ")
	return d, wal.WriteFileAtomic(path, append(b, '\n'), 0o600)
}
