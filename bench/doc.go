// Package bench measures cloudwallet from the outside: a load generator for
// a running server (`cloudwallet bench`), the bare fasthttp server that sets
// the ceiling any HTTP API can reach on a machine (`cloudwallet bench
// baseline`), the standard suite that runs both and reports medians and
// ratios (`make bench`, `cloudwallet bench suite`), in-process
// measurements of memory per wallet and entry and of restart time, and
// how throughput grows with nodes (`cloudwallet bench scale`: clusters of
// 1, 3 and 6 nodes, each node a process in a CPU-capped cgroup, each with
// its own load generator).
//
// The load generator sets up its own project, asset and N funded wallets,
// then drives POST /transactions: closed loop (C clients back to back) or
// open loop (a fixed rate; latency counts from the intended send time, so
// a stalled server cannot hide its queue: no coordinated omission). Every
// transaction is a Transfer with a fresh referenceId; the hot workload adds
// a fee Transfer to one system wallet, the zipf workload picks wallets with
// a Zipf law. Afterwards it checks that money is conserved.
package bench
