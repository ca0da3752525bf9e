// Package cli is lightbeam's command line: the dispatcher and one file per
// command. A command turns its flags into a job's Config (pipelines/*,
// export/convert), runs the job and prints its summary; the jobs do the
// work. main.go, at the module root so that `go run . demo` works, only
// calls Main.
//
//	os.Args ─▶ Main ─▶ run: the commands table (cli.go) by name ─▶ the
//	  command's flags (its own, and Beam's global ones) ─▶ beam.Init ─▶
//	  the command's function ─▶ exit status (nightly's 3 and 4, else 0 or 1)
//
// Every command is one entry of that table, as in cmd/go: adding a
// command is a new file and a line there, not an init(). Beam starts the
// same binary as a worker with only Beam's flags; run hands those to Beam.
package cli
