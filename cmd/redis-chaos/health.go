package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newHealthCmd) }

// newHealthCmd checks a running proxy's /readyz: the image's HEALTHCHECK (the
// image has no shell or curl).
func newHealthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when the proxy at --api is ready (for container health checks)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := settings(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+v.GetString("api")+"/readyz", nil)
			if err != nil {
				return err
			}
			if t := v.GetString("api-token"); t != "" {
				req.Header.Set("Authorization", "Bearer "+t)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("not ready: %w", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("not ready: %s", resp.Status)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ready")
			return nil
		},
	}
	cmd.Flags().String("api", "127.0.0.1:8470", "control API address of the proxy")
	cmd.Flags().String("api-token", "", "bearer token of the control API")
	return cmd
}
