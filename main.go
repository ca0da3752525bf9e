// Command lightbeam preprocesses training data, trains models with
// data-parallel SGD, and compresses them, as Apache Beam pipelines.
//
//	lightbeam <command> [flags] [beam flags]
//
// Run `lightbeam help` for the list of commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/lightbeam-ml/lightbeam/pipelines/probe"
)

// A command is one subcommand of the binary. Each lives in a cmd_*.go file
// and adds itself to commands in that file's init().
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

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("lightbeam: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	// LIGHTBEAM_CPUPROFILE=FILE writes a CPU profile of the whole command
	// (pipeline construction, the in-process runner and its workers).
	if path := os.Getenv("LIGHTBEAM_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(os.Args[1:]); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "lightbeam:", err)
		code := 1
		var ec exitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		os.Exit(code)
	}
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
			if c, ok := commands[args[1]]; ok {
				fs := newFlagSet(c)
				fs.SetOutput(os.Stdout)
				fs.Usage()
				return nil
			}
		}
		usage(os.Stdout)
		return nil
	}
	c, ok := commands[name]
	if !ok {
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
func newFlagSet(c command) *flag.FlagSet {
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
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(out, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(out, "  %-12s %s\n", "help", "show this list, or `help <command>` for a command's flags")
}

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
