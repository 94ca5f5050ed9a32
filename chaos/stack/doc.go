// Package stack puts redis-chaos's parts together. RealCluster adapts a
// cluster this process provisioned to the chaos engine's real-mode faults.
package stack
