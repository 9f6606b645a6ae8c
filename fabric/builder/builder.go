// Package builder is WoTChain's Fabric external chaincode builder for
// chaincode as a service: the peer runs bin/detect, bin/build and
// bin/release (shell scripts here, per Fabric's external builder contract)
// and then dials the chaincode server named in the package's
// connection.json. Fabric's own ccaas builder ships only in its Docker
// images, so the network installs this one.
package builder

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed bin
var scripts embed.FS

// Name is the builder's name in core.yaml's chaincode.externalBuilders.
const Name = "wotchain-ccaas"

// Install writes the builder into dir (dir/bin/detect, build, release) and
// returns dir's absolute path, which core.yaml must name.
func Install(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("chaincode builder dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "bin"), 0o755); err != nil {
		return "", fmt.Errorf("chaincode builder dir: %w", err)
	}
	err = fs.WalkDir(scripts, "bin", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := scripts.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(abs, path), data, 0o755)
	})
	if err != nil {
		return "", fmt.Errorf("install chaincode builder in %s: %w", abs, err)
	}
	return abs, nil
}
