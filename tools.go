//go:build tools

// Package tools pins the module's dependencies before every package uses them.
package tools

import (
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "github.com/tidwall/redcon"
	_ "go.uber.org/goleak"
	_ "gopkg.in/yaml.v3"
)
