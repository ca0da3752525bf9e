package accel

import (
	"fmt"
	"log"
	"os"
	"strings"
)

// AccelEnv names the environment variable that picks the backend when the
// caller asks for "auto" (or ""): go, blas or cuda.
const AccelEnv = "LIGHTBEAM_ACCEL"

// Names lists the backends in the order auto tries them.
var Names = []string{"cuda", "blas", "go"}

// Info describes one backend as Available finds it.
type Info struct {
	Name   string // "cuda", "blas" or "go"
	Loaded bool   // the backend opened here
	Detail string // what it runs on, or why it did not open
}

// detailer is implemented by backends that can say what they run on.
type detailer interface{ Detail() string }

// Describe returns a one-line description of what b runs on.
func Describe(b Backend) string {
	if d, ok := b.(detailer); ok {
		return d.Detail()
	}
	return "pure Go (gonum)"
}

// Banner is the one line a command prints at its start: the backend that
// runs, and on the pure-Go one what installing BLIS gains (the ratio
// measured in docs/BENCHMARKS.md: an MLP 784-300-100-10 step on 512 rows,
// 95 ms on go, 8.6 ms on blas). Select's reason says more, for `lightbeam
// accel`.
func Banner(b Backend) string {
	if b.Name() == "go" {
		return "accel: go (pure Go, gonum): install BLIS (apt-get install libblis4-pthread, or scripts/install-deps.sh) for about 11x faster training steps"
	}
	return fmt.Sprintf("accel: %s (%s)", b.Name(), Describe(b))
}

func openNamed(name string) (Backend, error) {
	switch name {
	case "go":
		return NewGo(), nil
	case "blas":
		return NewBLAS()
	case "cuda":
		return NewCUDA()
	}
	return nil, fmt.Errorf("accel: unknown backend %q (want auto, go, blas or cuda)", name)
}

// Select opens the backend called name. For "" or "auto" it takes the name
// in $LIGHTBEAM_ACCEL if set, else the first of cuda, blas and go that
// opens. It returns a one-line reason for the choice, naming why faster
// backends were skipped. A backend asked for by name that cannot open is an
// error naming the library it looked for.
func Select(name string) (Backend, string, error) {
	if name == "" || name == "auto" {
		if env := os.Getenv(AccelEnv); env != "" && env != "auto" {
			b, err := openNamed(env)
			if err != nil {
				return nil, "", fmt.Errorf("%s=%s: %w", AccelEnv, env, err)
			}
			return b, fmt.Sprintf("accel: using %s (%s=%s): %s", env, AccelEnv, env, Describe(b)), nil
		}
		var skipped []string
		for _, n := range Names {
			b, err := openNamed(n)
			if err != nil {
				skipped = append(skipped, fmt.Sprintf("skipped %s: %v", n, err))
				continue
			}
			reason := fmt.Sprintf("accel: using %s: %s", n, Describe(b))
			if len(skipped) > 0 {
				reason += "; " + strings.Join(skipped, "; ")
			}
			return b, reason, nil
		}
		panic("accel: the go backend failed to open") // unreachable: go always opens
	}
	b, err := openNamed(name)
	if err != nil {
		return nil, "", err
	}
	return b, fmt.Sprintf("accel: using %s: %s", name, Describe(b)), nil
}

// Open is Select that logs its reason (with the standard log package) when
// it chose automatically.
func Open(name string) (Backend, error) {
	b, reason, err := Select(name)
	if err == nil && (name == "" || name == "auto") {
		log.Print(reason)
	}
	return b, err
}

// Available opens and closes every backend and reports which load here.
func Available() []Info {
	var infos []Info
	for _, n := range Names {
		b, err := openNamed(n)
		if err != nil {
			infos = append(infos, Info{Name: n, Detail: err.Error()})
			continue
		}
		infos = append(infos, Info{Name: n, Loaded: true, Detail: Describe(b)})
		if err := b.Close(); err != nil {
			infos[len(infos)-1].Detail += "; close: " + err.Error()
		}
	}
	return infos
}
