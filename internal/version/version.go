// Package version holds the one lightbeam version that model files,
// checkpoints, manifests and artifacts record. A release build sets it:
//
//	go build -ldflags "-X github.com/lightbeam-ml/lightbeam/internal/version.Version=0.2.0" .
package version

// Version is lightbeam's version.
var Version = "0.1.0-dev"
