package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// OpenByAddr attaches to the provisioned cluster that the nodes at addrs belong to,
// after checking each of them: the directory the live node reports (CONFIG GET dir)
// holds this package's MarkerFile, whose node ID is the node's CLUSTER MYID and whose
// cluster state file lists that node under the same token. Any other node gets
// ErrNotProvisioned, so real fault actions never touch a cluster this package did not
// start. cfg supplies credentials and the Logger; its other fields are ignored.
func OpenByAddr(ctx context.Context, cfg Config, addrs ...string) (*Cluster, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: no address given", ErrNotProvisioned)
	}
	var c *Cluster
	for _, addr := range addrs {
		m, err := verifyAddr(ctx, cfg, addr)
		if err != nil {
			if c != nil {
				_ = c.Close()
			}
			return nil, err
		}
		if c == nil {
			oc := cfg
			oc.Dir = m.ClusterDir
			if c, err = OpenConfig(oc); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrNotProvisioned, addr, err)
			}
			if c.token != m.Token {
				_ = c.Close()
				return nil, fmt.Errorf("%w: %s: marker token does not match %s", ErrNotProvisioned, addr, m.ClusterDir)
			}
		} else if c.token != m.Token {
			_ = c.Close()
			return nil, fmt.Errorf("%w: %s belongs to another cluster than %s", ErrNotProvisioned, addr, addrs[0])
		}
	}
	return c, nil
}

// Verify reports nil when every address is a node of one cluster provisioned by
// this package (see OpenByAddr), and an error wrapping ErrNotProvisioned otherwise.
func Verify(ctx context.Context, cfg Config, addrs ...string) error {
	c, err := OpenByAddr(ctx, cfg, addrs...)
	if err != nil {
		return err
	}
	return c.Close()
}

// verifyAddr checks the node at addr against its marker and returns the marker.
func verifyAddr(ctx context.Context, cfg Config, addr string) (*marker, error) {
	cl := newClient(addr, cfg.Username, cfg.Password)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conf, err := cl.ConfigGet(ctx, "dir").Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: CONFIG GET dir: %v", ErrNotProvisioned, addr, err)
	}
	id, err := cl.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: CLUSTER MYID: %v", ErrNotProvisioned, addr, err)
	}
	b, err := os.ReadFile(filepath.Join(conf["dir"], MarkerFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: no marker in its directory %s", ErrNotProvisioned, addr, conf["dir"])
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: bad marker: %v", ErrNotProvisioned, addr, err)
	}
	if m.ID != id {
		return nil, fmt.Errorf("%w: %s: node id %s, marker says %s", ErrNotProvisioned, addr, id, m.ID)
	}
	st, err := readState(m.ClusterDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotProvisioned, addr, errors.Unwrap(err))
	}
	if st.Token != m.Token || m.Index < 0 || m.Index >= len(st.Nodes) || st.Nodes[m.Index].ID != id {
		return nil, fmt.Errorf("%w: %s: not listed in %s", ErrNotProvisioned, addr, filepath.Join(m.ClusterDir, StateFile))
	}
	return &m, nil
}
