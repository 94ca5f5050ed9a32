// Package provision runs a real Redis Cluster of local redis-server processes with a
// deterministic layout, and performs real faults on it (kill, stop, pause, restart,
// failover, MISCONF, slot migration) for the chaos engine's real mode.
//
//	c, err := provision.Start(ctx, provision.Config{
//		BasePort:    21001, // nodes on 21001-21009, cluster bus on 31001-31009
//		Shards:      3,
//		Replicas:    2,
//		NodeTimeout: 2 * time.Second,
//		Logger:      slog.Default(),
//	})
//	if err != nil {
//		return err
//	}
//	defer c.Stop(context.Background())
//	fmt.Println("seed:", c.Seed()) // 127.0.0.1:21001
//
//	// Kill the master of shard 0 and wait for its replica to take over.
//	if err := c.Kill(ctx, 0); err != nil { ... }
//	// ... observe the failover ...
//	if err := c.RevertAll(ctx); err != nil { ... } // back to the provisioned layout
//
// # Layout
//
// Node i listens on Host:BasePort+i (cluster bus on BasePort+i+10000) and lives in
// Dir/node-i (redis.conf, nodes.conf, redis.log, MarkerFile). Nodes 0..Shards-1 are the
// masters of shards 0..Shards-1; replica j of shard s is node Shards + s*Replicas + j.
// Slots are split as redis-cli --cluster create splits them. For the default 3×2:
//
//	index  port   shard  role     slots
//	0      21001  0      master   0-5460
//	1      21002  1      master   5461-10922
//	2      21003  2      master   10923-16383
//	3      21004  0      replica  (of node 0)
//	4      21005  0      replica  (of node 0)
//	5      21006  1      replica  (of node 1)
//	6      21007  1      replica  (of node 1)
//	7      21008  2      replica  (of node 2)
//	8      21009  2      replica  (of node 2)
//
// Start forms the cluster itself (CLUSTER SET-CONFIG-EPOCH, ADDSLOTSRANGE, MEET,
// REPLICATE) and returns when every node reports cluster_state:ok, all 16384 slots
// served, every node known to every node, and every replica linked to its master.
// Nodes get cluster-allow-replica-migration no, so replicas stay in their shard;
// ExtraConfig can override this and every other line.
//
// # Partitions
//
// Partition cuts the cluster into sides that no longer hear each other, as on a
// cut network, without privileges: while it is in place each node announces the
// port of a relay in this process as its cluster bus port, and the relays
// forward nothing (and close nothing) between nodes on different sides, so
// node-timeout detects the silence as Redis detects a real cut; replicas whose
// master is on the other side cannot sync. Heal undoes all of it and reports
// which masters lost their slots (and with them the writes they acknowledged
// after the cut):
//
//	p, err := c.Partition(ctx, []int{0}) // isolate node 0 (master of shard 0)
//	// ... node 0 accepts writes until node-timeout; the others promote node 3 or 4 ...
//	h, err := p.Heal(ctx) // h.Demoted == [0]: its writes after h.Start are gone
//
// The state file records a partition in place, so that RevertAll (from any
// process) undoes one left behind by a process that died.
//
// # Processes
//
// Each redis-server runs in its own process group and is always waited for. With
// Config.Daemon the nodes run in their own sessions and outlive the caller; Dir/StateFile
// records their PIDs so that Open (from another process) can report their Status,
// act on them, and Stop them. Stop sends SHUTDOWN NOSAVE and SIGKILLs a node's process
// group after a grace period.
//
// # Provisioned clusters only
//
// Each node directory holds MarkerFile with the node's ID and the cluster's random
// token. OpenByAddr and Verify accept an address only when the live node's
// CONFIG GET dir holds a marker that matches its CLUSTER MYID and the cluster's state
// file; anything else gets ErrNotProvisioned. Actions by address resolve through
// Cluster.Index, which refuses addresses outside the cluster the same way.
package provision
