// Package peer is a node's internal port: one TCP listener that carries the
// Raft traffic of every shard group, commands forwarded to leaders, and
// cluster calls (join, promote, remove, status, read index).
//
// Every connection begins with a handshake that names what the connection
// carries (a Kind and a group) and proves that both ends know the cluster
// secret, without sending it: each side sends a fresh nonce and answers the
// other's with an HMAC-SHA256 keyed by the secret. A connection that fails
// the handshake is closed before anything else is read. The traffic after
// the handshake is not encrypted: run the internal port on a private
// network.
//
// Raft streams are handed to the group's Stream (a raft.StreamLayer); every
// other kind goes to the Handler registered for it.
package peer
