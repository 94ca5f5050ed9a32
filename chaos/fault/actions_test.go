package fault_test

// The actions ("down", "latency", …) are defined and registered by the chaos
// engine's package.
import _ "github.com/redis-chaos/redis-chaos/chaos"
