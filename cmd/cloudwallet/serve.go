package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/shard"
	"github.com/cloudwallet/cloudwallet/transport"
	"github.com/cloudwallet/cloudwallet/wal"
)

type serveFlags struct {
	dataDir, httpAddr, peerAddr, logStore, operatorToken string
	advertise, join, clusterSecret, clusterSecretFile    string
	logFormat, logLevel, raftLogLevel                    string
	shards, groups, replicas, proposalQueue              int
	readyTimeout, shutdownDelay, shutdownTimeout         time.Duration
	metricsAuth                                          bool
	pprofAddr                                            string
	maxConnsPerIP                                        int
	batchBodyMax                                         int
}

func parseServeFlags(args []string) (serveFlags, error) {
	var f serveFlags
	def := engine.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&f.dataDir, "data-dir", envOr("CLOUDWALLET_DATA_DIR", "./data"), "data directory (env CLOUDWALLET_DATA_DIR)")
	fs.StringVar(&f.httpAddr, "http-addr", envOr("CLOUDWALLET_HTTP_ADDR", "127.0.0.1:8080"), "HTTP API address (env CLOUDWALLET_HTTP_ADDR)")
	fs.StringVar(&f.peerAddr, "peer-addr", envOr("CLOUDWALLET_PEER_ADDR", "127.0.0.1:7000"), "internal port: Raft and traffic between nodes (env CLOUDWALLET_PEER_ADDR)")
	fs.StringVar(&f.peerAddr, "raft-addr", f.peerAddr, "old name of --peer-addr")
	fs.StringVar(&f.advertise, "advertise", envOr("CLOUDWALLET_ADVERTISE", ""), "internal address other nodes dial, if not --peer-addr (env CLOUDWALLET_ADVERTISE)")
	fs.StringVar(&f.join, "join", envOr("CLOUDWALLET_JOIN", ""), "internal address (--peer-addr) of any node of a running cluster to join (env CLOUDWALLET_JOIN)")
	fs.StringVar(&f.clusterSecret, "cluster-secret", envOr("CLOUDWALLET_CLUSTER_SECRET", ""), "cluster secret, needed to join (env CLOUDWALLET_CLUSTER_SECRET); the first node writes it to DATA_DIR/cluster.secret")
	fs.StringVar(&f.clusterSecretFile, "cluster-secret-file", envOr("CLOUDWALLET_CLUSTER_SECRET_FILE", ""), "read the cluster secret from this file (e.g. the first node's DATA_DIR/cluster.secret)")
	fs.StringVar(&f.logStore, "log-store", envOr("CLOUDWALLET_LOG_STORE", "wal"), "Raft log store: wal or bolt (env CLOUDWALLET_LOG_STORE)")
	fs.StringVar(&f.operatorToken, "operator-token", envOr("CLOUDWALLET_OPERATOR_TOKEN", ""), "operator token; default: DATA_DIR/operator.token, generated on first start (env CLOUDWALLET_OPERATOR_TOKEN)")
	shards, _ := strconv.Atoi(envOr("CLOUDWALLET_SHARDS", strconv.Itoa(def.Shards)))
	fs.IntVar(&f.shards, "shards", shards, "shards per shard group, fixed when the cluster is created (env CLOUDWALLET_SHARDS)")
	groups, _ := strconv.Atoi(envOr("CLOUDWALLET_GROUPS", "1"))
	fs.IntVar(&f.groups, "groups", groups, "shard groups, each its own Raft group with its own leader, fixed when the cluster is created (env CLOUDWALLET_GROUPS)")
	replicas, _ := strconv.Atoi(envOr("CLOUDWALLET_REPLICAS", "3"))
	fs.IntVar(&f.replicas, "replicas", replicas, "voters per shard group: with more nodes, each node holds only some groups; fixed when the cluster is created, learnt by joining nodes (env CLOUDWALLET_REPLICAS)")
	fs.IntVar(&f.proposalQueue, "proposal-queue", def.ProposalQueueMax, "writes waiting to be proposed; beyond it writes get 429 LIMIT_EXCEEDED")
	fs.DurationVar(&f.readyTimeout, "ready-timeout", 2*time.Minute, "how long start-up (log replay, election) may take")
	fs.StringVar(&f.logFormat, "log-format", envOr("CLOUDWALLET_LOG_FORMAT", "json"), "log format: json or text (env CLOUDWALLET_LOG_FORMAT)")
	fs.StringVar(&f.logLevel, "log-level", envOr("CLOUDWALLET_LOG_LEVEL", "info"), "least level logged: debug, info, warn, error (env CLOUDWALLET_LOG_LEVEL)")
	fs.StringVar(&f.raftLogLevel, "raft-log-level", envOr("CLOUDWALLET_RAFT_LOG_LEVEL", def.RaftLogLevel), "least level of hashicorp/raft's own lines: trace, debug, info, warn, error")
	fs.BoolVar(&f.metricsAuth, "metrics-auth", envOr("CLOUDWALLET_METRICS_AUTH", "") == "true", "make /metrics require the operator token (env CLOUDWALLET_METRICS_AUTH=true)")
	fs.DurationVar(&f.shutdownDelay, "shutdown-delay", 0, "on SIGTERM, answer /readyz 503 this long before closing the HTTP port (give load balancers time to notice)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long requests in flight may take to finish")
	maxPerIP, _ := strconv.Atoi(envOr("CLOUDWALLET_MAX_CONNS_PER_IP", "0"))
	fs.IntVar(&f.maxConnsPerIP, "max-conns-per-ip", maxPerIP, "most HTTP connections from one client IP; 0: no limit but the connection cap (env CLOUDWALLET_MAX_CONNS_PER_IP)")
	batchBody, _ := strconv.Atoi(envOr("CLOUDWALLET_BATCH_BODY_MAX", strconv.Itoa(transport.DefaultConfig().BatchBodyBytesMax)))
	fs.IntVar(&f.batchBodyMax, "batch-body-max", batchBody, "largest body of POST /transactions/batch, in bytes (env CLOUDWALLET_BATCH_BODY_MAX); other bodies: 1 MiB")
	fs.StringVar(&f.pprofAddr, "pprof-addr", envOr("CLOUDWALLET_PPROF_ADDR", ""), "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060; keep it private); empty: off")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if f.logFormat != "json" && f.logFormat != "text" {
		return f, fmt.Errorf("--log-format must be json or text, not %q", f.logFormat)
	}
	if _, err := parseLevel(f.logLevel); err != nil {
		return f, err
	}
	if f.clusterSecretFile != "" {
		if f.clusterSecret != "" {
			return f, errors.New("give --cluster-secret or --cluster-secret-file, not both")
		}
		b, err := os.ReadFile(f.clusterSecretFile)
		if err != nil {
			return f, fmt.Errorf("--cluster-secret-file: %w", err)
		}
		f.clusterSecret = strings.TrimSpace(string(b))
	}
	if f.batchBodyMax < 1<<20 {
		return f, fmt.Errorf("--batch-body-max must be at least 1 MiB (1048576), not %d", f.batchBodyMax)
	}
	if f.maxConnsPerIP < 0 {
		return f, fmt.Errorf("--max-conns-per-ip must be 0 (off) or more, not %d", f.maxConnsPerIP)
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return f, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(format, level string) *slog.Logger {
	l, _ := parseLevel(level)
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// newRegistry holds every metric /metrics serves: the Go runtime, the
// process, the build, the engine's and the HTTP server's.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "cloudwallet_build_info",
			Help:        "Always 1; the labels say which build runs.",
			ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	return reg
}

// serve runs a node until SIGTERM or SIGINT, then shuts down in order: not
// ready (/readyz 503) → hand leadership over → stop accepting HTTP and
// finish requests in flight (writes are forwarded to the new leader) → stop
// Raft → close the logs.
func serve(args []string) error {
	f, err := parseServeFlags(args)
	if err != nil {
		return err
	}
	log := newLogger(f.logFormat, f.logLevel)
	tokenSource := "file"
	if f.operatorToken != "" {
		tokenSource = "flag or env"
	}
	// Never log secrets: the token's source, not the token.
	log.Info("starting", "version", version, "commit", commit, "go", runtime.Version(),
		"dataDir", f.dataDir, "httpAddr", f.httpAddr, "peerAddr", f.peerAddr, "advertise", f.advertise, "join", f.join, "shards", f.shards, "groups", f.groups, "replicas", f.replicas,
		"logStore", f.logStore, "proposalQueue", f.proposalQueue, "operatorToken", tokenSource,
		"metricsAuth", f.metricsAuth, "logFormat", f.logFormat, "logLevel", f.logLevel,
		"raftLogLevel", f.raftLogLevel, "shutdownDelay", f.shutdownDelay.String())
	start := time.Now()
	if f.pprofAddr != "" {
		if err := servePprof(log, f.pprofAddr); err != nil {
			return err
		}
	}
	reg := newRegistry()
	cfg := engine.DefaultConfig()
	cfg.DataDir, cfg.PeerAddr, cfg.Shards, cfg.Groups, cfg.Replicas, cfg.LogStore = f.dataDir, f.peerAddr, f.shards, f.groups, f.replicas, f.logStore
	cfg.Advertise, cfg.JoinAddr, cfg.ClusterSecret = f.advertise, f.join, f.clusterSecret
	cfg.ProposalQueueMax, cfg.RaftLogLevel, cfg.Logger, cfg.Metrics = f.proposalQueue, f.raftLogLevel, log, reg
	// The operator token: given, or in the data dir, or (bootstrapping) new,
	// or (joining) the cluster's, learnt over the authenticated internal port.
	tokenPath := filepath.Join(f.dataDir, "operator.token")
	token := f.operatorToken
	if token == "" && (f.join == "" || fileExists(tokenPath)) {
		if err := wal.MkdirAllDurable(f.dataDir, 0o700); err != nil {
			return err
		}
		if token, err = loadOrCreateToken(tokenPath, ""); err != nil {
			return err
		}
	}
	cfg.OperatorToken = token
	node, err := engine.Open(cfg)
	if err != nil {
		return err
	}
	if token == "" {
		if token, err = loadOrCreateToken(tokenPath, node.ClusterOperatorToken()); err != nil {
			node.Close()
			return err
		}
	}

	// Listen before the node is ready: /livez and /readyz answer during a
	// long log replay, and API requests get 503 until Open.
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		node.Close()
		return err
	}
	hcfg := transport.DefaultConfig()
	hcfg.OperatorToken, hcfg.Metrics, hcfg.MetricsAuth, hcfg.Log = token, reg, f.metricsAuth, log
	hcfg.BatchBodyBytesMax = f.batchBodyMax
	files, err := raiseFileLimit()
	if err != nil {
		log.Warn("could not raise the open-file limit to its hard limit", "limit", files, "err", err)
	}
	hcfg.ConnectionsMax, hcfg.ConnectionsPerIPMax = connectionsMax(files), f.maxConnsPerIP
	log.Info("connection limits", "openFilesMax", files, "connectionsMax", hcfg.ConnectionsMax, "connectionsPerIPMax", hcfg.ConnectionsPerIPMax)
	srv, err := transport.New(node, hcfg)
	if err != nil {
		ln.Close()
		node.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "httpAddr", ln.Addr().String(), "peerAddr", node.PeerAddr())

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithTimeout(context.Background(), f.readyTimeout)
	var interrupted atomic.Bool
	go func() {
		select {
		case s := <-sig:
			log.Info("signal during start-up; stopping", "signal", s.String())
			interrupted.Store(true)
			cancel()
			sig <- s // if start-up won the race, the select below stops
		case <-ctx.Done():
		}
	}()
	err = node.WaitReady(ctx)
	cancel()
	var first *defaultProject
	if err == nil && f.join == "" {
		first, err = firstRun(node, f.dataDir)
	}
	if err != nil {
		srv.Shutdown()
		node.Close()
		if interrupted.Load() {
			log.Info("stopped")
			return nil
		}
		return err
	}
	srv.Open()
	log.Info("ready", "nodeId", node.ID(), "shards", node.Shards(), "groups", node.Groups(), "replicas", node.Replicas(), "startup", time.Since(start).String())
	if first != nil {
		fmt.Printf("cloudwallet is ready. The default project's keys are in %s\n", filepath.Join(f.dataDir, "default-project.json"))
		fmt.Printf("Try:\n  curl -s http://%s/project -H 'Authorization: Bearer %s'\n", ln.Addr(), first.AccessKey)
		fmt.Printf("Add nodes with:\n  cloudwallet serve --join %s --cluster-secret-file %s --data-dir ... --http-addr ... --peer-addr ...\n",
			node.PeerAddr(), filepath.Join(f.dataDir, "cluster.secret"))
	}

	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-served:
		log.Error("http server stopped", "err", err)
	}
	go func() { // a second signal stops at once
		s := <-sig
		log.Error("second signal; exiting without a clean shutdown", "signal", s.String())
		os.Exit(1)
	}()
	return shutdown(log, srv, node, f.shutdownDelay, f.shutdownTimeout)
}

// shutdown stops in order. Requests in flight finish before Raft stops, so
// every answered write was applied; a write cut off by the timeout answers
// nothing and its client retries with the same referenceId.
func shutdown(log *slog.Logger, srv *transport.Server, node *engine.Node, delay, timeout time.Duration) error {
	srv.Drain()
	if delay > 0 {
		log.Info("draining: /readyz answers 503", "delay", delay.String())
		time.Sleep(delay)
	}
	if err := node.Handoff(); err != nil {
		log.Warn("leadership transfer failed; the others will elect after a timeout", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.ShutdownWithContext(ctx); err != nil {
		log.Error("http shutdown", "err", err)
	}
	log.Info("http stopped")
	if err := node.Close(); err != nil {
		log.Error("raft shutdown", "err", err)
		return err
	}
	log.Info("stopped")
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// loadOrCreateToken reads the operator token file, or writes one: given
// (the cluster's, on a joining node) or new.
func loadOrCreateToken(path, given string) (string, error) {
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
	t := given
	if t == "" {
		t = "op_" + engine.RandomToken(32)
	}
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
	projects := node.Projects()
	ctx := context.Background()
	var p shard.ProjectID
	switch {
	case len(projects) == 0:
		r, err := node.CreateProject(ctx, "default", 0) // spans every group
		if err != nil {
			return nil, err
		}
		p = r.Value.(shard.ProjectView).ID
	case projects[0].Name == "default":
		p = projects[0].ID
	default:
		return nil, nil
	}
	r, err := node.CreateKeyPair(ctx, p, "default")
	if err != nil {
		return nil, err
	}
	kp := r.Value.(shard.KeyPair)
	d := &defaultProject{ProjectID: p.String(), KeyPairID: kp.ID.String(), AccessKey: transport.MintAccessKey(kp), SignatureKey: kp.SignatureKey}
	b, _ := json.MarshalIndent(d, "", "  ")
	return d, wal.WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// servePprof serves net/http/pprof's handlers on their own address, apart
// from the API: profiles are for the operator, never for clients.
func servePprof(log *slog.Logger, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("pprof", "addr", ln.Addr().String())
	go func() {
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		log.Error("pprof server stopped", "err", srv.Serve(ln))
	}()
	return nil
}
