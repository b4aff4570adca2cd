// Package topology plans where shard groups live when a cluster has more
// nodes than replicas per group: each group on R of the N nodes, replicas
// and leaderships spread evenly, and, when nodes join or leave, as few
// replicas moved as that takes.
//
// Plan is a pure function of the previous layout, the live nodes (in the
// order the cluster lists them) and R, so every node that runs it on the
// same replicated inputs gets the same layout. Moves turns the change from
// one layout to the next into single membership steps, each adding a
// replica before any replica of that group is removed, so a group never
// drops below its replica count while a move is under way.
//
// It imports nothing of the project: the engine keeps the layout in
// replicated state and carries the moves out (engine/placement.go).
package topology
