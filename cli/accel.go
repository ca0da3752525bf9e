package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/lightbeam-ml/lightbeam/accel"
)

var accelCmd = &command{
	name:       "accel",
	summary:    "list the math backends that load here; `accel bench` times one",
	positional: true,
	flags: func(fs *flag.FlagSet) func(ctx context.Context) error {
		backend := fs.String("backend", "auto", "bench: backend to time: auto, go, blas or cuda")
		n := fs.Int("n", 1024, "bench: SGEMM size n (n×n times n×n)")
		reps := fs.Int("reps", 5, "bench: timed repetitions (the best counts)")
		return func(ctx context.Context) error {
			switch args := positionalArgs(ctx); {
			case len(args) == 0:
				return listAccel()
			case len(args) == 1 && args[0] == "bench":
				if *n < 1 || *reps < 1 {
					return fmt.Errorf("accel bench: --n=%d and --reps=%d must be positive", *n, *reps)
				}
				return benchAccel(*backend, *n, *reps)
			default:
				return fmt.Errorf("accel: unexpected arguments %v (want none, or bench)", args)
			}
		}
	},
}

// listAccel prints each backend, whether it loads here and what auto picks.
func listAccel() error {
	pick := ""
	for _, in := range accel.Available() {
		status := "no "
		if in.Loaded {
			status = "yes"
			if pick == "" {
				pick = in.Name
			}
		}
		fmt.Printf("%-5s %s  %s\n", in.Name, status, in.Detail)
	}
	if env := os.Getenv(accel.AccelEnv); env != "" && env != "auto" {
		pick = env + " (from " + accel.AccelEnv + ")"
	}
	fmt.Printf("auto: %s\n", pick)
	return nil
}

// benchAccel prints one JSON line of accel.BenchResult.
func benchAccel(name string, n, reps int) error {
	b, reason, err := accel.Select(name)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, reason)
	res, err := accel.Bench(b, n, reps)
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	return nil
}
