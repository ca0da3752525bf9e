// Command gencsv writes a deterministic numeric CSV for benchmarks: a
// header, then rows of --cols numeric columns and an integer label column
// in 0..--classes-1, until the file holds at least --mb megabytes (10⁶
// bytes). The same flags always give the same bytes.
//
//	go run ./scripts/gencsv --out=bench-data/bench.csv --mb=500
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
)

func main() {
	out := flag.String("out", "", "output file (required)")
	mb := flag.Int("mb", 500, "minimum size in megabytes (10⁶ bytes)")
	cols := flag.Int("cols", 30, "numeric feature columns")
	classes := flag.Int("classes", 10, "label classes")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" || *mb <= 0 || *cols <= 0 || *classes <= 0 {
		fmt.Fprintln(os.Stderr, "gencsv: want --out, and positive --mb, --cols, --classes")
		os.Exit(2)
	}
	rows, size, err := write(*out, int64(*mb)*1e6, *cols, *classes, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencsv:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d rows, %d bytes\n", *out, rows, size)
}

// write writes the file and returns its row count and size.
func write(path string, minBytes int64, cols, classes int, seed uint64) (rows, size int64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	line := make([]byte, 0, 64*cols)
	for j := 0; j < cols; j++ {
		line = append(line, 'f')
		line = strconv.AppendInt(line, int64(j), 10)
		line = append(line, ',')
	}
	line = append(line, "label\n"...)
	for size < minBytes {
		if _, err := w.Write(line); err != nil {
			f.Close()
			return 0, 0, err
		}
		size += int64(len(line))
		line = line[:0]
		label := rng.IntN(classes)
		for j := 0; j < cols; j++ {
			// Feature j: mean j + label/2, spread j+1, 4 decimals: like
			// measured data, and mostly on the parser's fast path.
			v := rng.NormFloat64()*float64(j+1) + float64(j) + float64(label)/2
			line = strconv.AppendFloat(line, v, 'f', 4, 64)
			line = append(line, ',')
		}
		line = strconv.AppendInt(line, int64(label), 10)
		line = append(line, '\n')
		rows++
	}
	rows-- // the last line built was never written
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, 0, err
	}
	return rows, size, f.Close()
}
