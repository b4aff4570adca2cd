package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cloudwallet/cloudwallet/peer"
	"github.com/cloudwallet/cloudwallet/wal"
)

// loadSecret returns the cluster secret: the one in the data dir, else the
// configured one (saved), else a new one if this node bootstraps.
func loadSecret(dir, configured string, joining bool) (string, error) {
	path := filepath.Join(dir, "cluster.secret")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		stored := strings.TrimSpace(string(b))
		if configured != "" && configured != stored {
			return "", fmt.Errorf("engine: %s holds a different cluster secret than the one given: this data dir belongs to another cluster", path)
		}
		return stored, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	secret := configured
	if secret == "" {
		if joining {
			return "", errors.New("engine: joining a cluster needs its secret (--cluster-secret or --cluster-secret-file; the first node keeps it in DATA_DIR/cluster.secret)")
		}
		secret = RandomToken(32)
	}
	if len(secret) < peer.SecretBytesMin {
		return "", fmt.Errorf("engine: the cluster secret must be at least %d characters", peer.SecretBytesMin)
	}
	return secret, wal.WriteFileAtomic(path, []byte(secret+"\n"), 0o600)
}
