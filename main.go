// Command lightbeam preprocesses training data, trains models with
// data-parallel SGD, and compresses them, as Apache Beam pipelines.
//
//	lightbeam <command> [flags] [beam flags]
//
// Run `lightbeam help` for the list of commands. They live in package
// cli; this file stays at the module root so that `go run . demo` works.
package main

import (
	"os"

	"github.com/lightbeam-ml/lightbeam/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
