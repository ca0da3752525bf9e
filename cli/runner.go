package cli

import (
	"context"
	"flag"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/lightbeam-ml/lightbeam/pipelines/probe"
)

// workersSee stops a command whose pipeline would run in workers that do
// not see its local input files or output directories (see package probe).
// With an in-process runner or LOOPBACK it does nothing.
func workersSee(ctx context.Context, inputs, outputs []string) error {
	return probe.Check(ctx, beamRunner(), inputs, outputs)
}

// splitPaths splits a list of paths as --input takes them: comma- or
// semicolon-separated.
func splitPaths(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' })
}

// beamRunner is the runner named by Beam's global --runner flag.
func beamRunner() string {
	if f := flag.Lookup("runner"); f != nil {
		return f.Value.String()
	}
	return ""
}

func init() {
	// prism is the default runner unless the user names another.
	if f := flag.Lookup("runner"); f != nil && f.DefValue == "" {
		_ = f.Value.Set("prism")
		f.DefValue = "prism"
	}
	_ = beamx.Run // beamx registers the runners' flags
}
