package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/redis-chaos/redis-chaos/provision"
)

// busOffset is the distance between a node's port and its cluster bus port.
const busOffset = 10000

// localPortRange is the range Linux takes the local ports of outgoing
// connections from (net.ipv4.ip_local_port_range), when it can be read.
func localPortRange() (lo, hi int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &lo, &hi); err != nil || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}

// ephemeralNote says which node and cluster bus ports of a cluster of n nodes
// from base lie in the ephemeral range lo-hi, and what to do about it; "" when
// none does.
func ephemeralNote(base, n, lo, hi int) string {
	in := func(first int) bool { return first <= hi && first+n-1 >= lo }
	var which []string
	if in(base) {
		which = append(which, fmt.Sprintf("node ports %d-%d", base, base+n-1))
	}
	if in(base + busOffset) {
		which = append(which, fmt.Sprintf("cluster bus ports %d-%d", base+busOffset, base+busOffset+n-1))
	}
	if len(which) == 0 {
		return ""
	}
	suggest := provision.DefaultBasePort
	if suggest+busOffset+n-1 >= lo {
		suggest = max(1024, lo-busOffset-n-1000)
	}
	return fmt.Sprintf("%s lie in this machine's ephemeral port range (%d-%d), from which outgoing connections take their local ports, "+
		"so one can be taken at any time: --cluster-base-port %d keeps the nodes and their bus ports below it",
		strings.Join(which, " and "), lo, hi, suggest)
}

// nodePortsNote is ephemeralNote for cfg on this machine.
func nodePortsNote(cfg provision.Config) string {
	lo, hi, ok := localPortRange()
	if !ok {
		return ""
	}
	base := cfg.BasePort
	if base == 0 {
		base = provision.DefaultBasePort
	}
	return ephemeralNote(base, cfg.Shards*(1+max(cfg.Replicas, 0)), lo, hi)
}

// withPortsNote adds the ephemeral-range note to a port-in-use error.
func withPortsNote(err error, cfg provision.Config) error {
	if errors.Is(err, provision.ErrPortInUse) {
		if note := nodePortsNote(cfg); note != "" {
			return fmt.Errorf("%w; %s", err, note)
		}
	}
	return err
}

// warnPorts logs the ephemeral-range note of a cluster that started: its ports
// were free, but a restarted node may find its port taken.
func warnPorts(cfg provision.Config, log *slog.Logger) {
	if note := nodePortsNote(cfg); note != "" {
		log.Warn(note)
	}
}
