// Package e2e drives the real cloudwallet binary over HTTP: it builds the
// binary once, starts it on temporary data dirs and loopback ports, and
// checks the contract of docs/API.md from the outside, including
// restarts, SIGTERM and SIGKILL.
package e2e
