package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// A command is one subcommand of the binary, in a file of its own.
type command struct {
	name    string
	summary string
	// flags registers the command's own flags on fs and returns the
	// function that runs the command once fs is parsed.
	flags func(fs *flag.FlagSet) func(ctx context.Context) error
	// positional lets the command take words between its flags (`accel
	// bench --n=64`); it reads them with positionalArgs(ctx).
	positional bool
}

// commands is every command, in the order help lists them (by name).
var commands = []*command{
	accelCmd,
	compressCmd,
	demoCmd,
	evaluateCmd,
	exportCmd,
	inspectCmd,
	nightlyCmd,
	preprocessCmd,
	trainCmd,
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

type positionalKey struct{}

// exitCoder is an error that sets the process's exit status (1 for any
// other error): lightbeam nightly tells operators what happened by it.
type exitCoder interface {
	error
	ExitCode() int
}

// positionalArgs returns the non-flag words given to a positional command.
func positionalArgs(ctx context.Context) []string {
	args, _ := ctx.Value(positionalKey{}).([]string)
	return args
}

// Main runs lightbeam with args (os.Args[1:]) and returns the process's
// exit status: 0, the status the error sets (exitCoder), or 1.
func Main(args []string) int {
	// LIGHTBEAM_CPUPROFILE=FILE writes a CPU profile of the whole command
	// (pipeline construction, the in-process runner and its workers).
	if path := os.Getenv("LIGHTBEAM_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(args); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "lightbeam:", err)
		code := 1
		var ec exitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		return code
	}
	return 0
}

func run(args []string) error {
	// Beam starts the same binary as a worker with only Beam's flags
	// (--worker=true --id=...): hand those straight to Beam, which never
	// returns from Init in worker mode.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" {
		flag.Parse()
		beam.Init()
		if len(args) == 0 {
			usage(os.Stderr)
			return fmt.Errorf("no command given")
		}
		return fmt.Errorf("unknown flags before the command: %v", args)
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				fs := newFlagSet(c)
				fs.SetOutput(os.Stdout)
				fs.Usage()
				return nil
			}
		}
		usage(os.Stdout)
		return nil
	}
	c := lookup(name)
	if c == nil {
		usage(os.Stderr)
		return fmt.Errorf("unknown command %q", name)
	}
	fs := newFlagSet(c)
	runFn := c.flags(fs)
	var words []string
	for rest := args[1:]; ; rest = fs.Args()[1:] {
		if err := fs.Parse(rest); err != nil {
			if err == flag.ErrHelp {
				return nil
			}
			return err
		}
		if fs.NArg() == 0 || !c.positional {
			break
		}
		words = append(words, fs.Arg(0))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %v", name, fs.Args())
	}
	// Beam and prism log every job's life at info level; commands print
	// their own progress. LIGHTBEAM_LOG_LEVEL=info (or debug) brings it back.
	beamlog.LogLevel = "warn"
	if lvl := os.Getenv("LIGHTBEAM_LOG_LEVEL"); lvl != "" {
		beamlog.LogLevel = lvl
	}
	beam.Init()
	return runFn(context.WithValue(context.Background(), positionalKey{}, words))
}

// newFlagSet returns a flag set for c that also carries every flag
// registered on the global set (Beam's --runner, --endpoint, ...), sharing
// their values so Beam sees what the user passed.
func newFlagSet(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("lightbeam "+c.name, flag.ContinueOnError)
	own := flag.NewFlagSet("", flag.ContinueOnError)
	c.flags(own)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "lightbeam %s: %s\n\nFlags:\n", c.name, c.summary)
		own.SetOutput(out)
		own.PrintDefaults()
		fmt.Fprintf(out, "\nBeam flags (--runner, --endpoint, --environment_type, ...) pass through; the default runner is prism.\n")
	}
	flag.VisitAll(func(f *flag.Flag) {
		fs.Var(f.Value, f.Name, f.Usage)
	})
	return fs
}

func usage(out *os.File) {
	fmt.Fprintf(out, "lightbeam: train and shrink models on data too big for one machine, on Apache Beam.\n\nUsage: lightbeam <command> [flags] [beam flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(out, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(out, "  %-12s %s\n", "help", "show this list, or `help <command>` for a command's flags")
}
