package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
)

// A Driver serves the paths of one URL scheme ("" for local paths). The
// exported functions of this package check their arguments and hand each
// call to the driver of its path's scheme; see them for what each method
// must do. Errors name the path ("storage: OP PATH: ..."), a missing file
// wraps fs.ErrNotExist, and an operation the store cannot do returns an
// error wrapping ErrUnsupported.
type Driver interface {
	// Capabilities says what the store guarantees.
	Capabilities() Capabilities
	// Stat returns the size and generation of a file (Stat).
	Stat(ctx context.Context, p string) (FileInfo, error)
	// OpenRange opens n bytes from off (n < 0: to the end) of generation
	// gen of p (gen 0: whatever is there). Only drivers with PinnedReads
	// are given a gen other than 0 (OpenRangeAt).
	OpenRange(ctx context.Context, p string, gen, off, n int64) (io.ReadCloser, error)
	// WriteFile replaces p atomically (WriteFile).
	WriteFile(ctx context.Context, p string, write func(io.Writer) error) error
	// CreateExclusive creates p only if no file is there (CreateExclusive).
	CreateExclusive(ctx context.Context, p string, data []byte) error
	// ReadGeneration returns p's contents and the generation that
	// WriteIfGeneration and RemoveIfGeneration compare (ReadGeneration).
	ReadGeneration(ctx context.Context, p string) ([]byte, int64, error)
	// WriteIfGeneration replaces p if it is generation gen (ConditionalWrites).
	WriteIfGeneration(ctx context.Context, p string, data []byte, gen int64) error
	// RemoveIfGeneration removes p if it is generation gen.
	RemoveIfGeneration(ctx context.Context, p string, gen int64) error
	// Concat writes dst as srcs joined (Concat; srcs is not empty).
	Concat(ctx context.Context, dst string, srcs []string) error
	// AppendLine appends line, which ends in '\n', to p (AppendLine).
	AppendLine(ctx context.Context, p string, line []byte) error
	// List returns the files that glob matches, in the syntax of the
	// package documentation.
	List(ctx context.Context, glob string) ([]string, error)
	// Remove removes the file p.
	Remove(ctx context.Context, p string) error
	// MkdirAll makes the directory p and its parents where the store has
	// directories, and does nothing where it has none.
	MkdirAll(ctx context.Context, p string) error
}

// Capabilities are the guarantees a store gives beyond what every driver
// does (atomic writes, exclusive creation, generation-checked removal,
// appends that lose no line, one glob syntax). The conformance suite
// (storage/storagetest) skips, by these names, the cases of a guarantee a
// store lacks.
type Capabilities struct {
	// PinnedReads: Stat gives every file a generation, which changes
	// whenever the file is replaced, and OpenRangeAt reads that generation
	// or fails with ErrChanged. Local paths and gs:// have it; hdfs://
	// does not (its Stat says 0: reads are not pinned).
	PinnedReads bool
	// ConditionalWrites: WriteIfGeneration works. gs:// and hdfs:// have
	// it; local paths do not (ErrUnsupported), and append with O_APPEND.
	ConditionalWrites bool
	// Preconditions: the store itself checks a write's condition in the
	// request that makes the change, against every other writer. Then
	// CreateExclusive, WriteIfGeneration and RemoveIfGeneration are
	// atomic whoever else writes, and WriteFile and Concat refuse, with
	// ErrChanged, to replace a file that another writer created or
	// replaced after they began. Only gs:// has it (ifGenerationMatch).
	// hdfs:// conditional operations are atomic only against each other
	// (a guard file, storage/hdfs cond.go): a plain WriteFile, Remove or
	// another HDFS client can land between their check and their rename.
	// Locally CreateExclusive is atomic (a link), RemoveIfGeneration
	// checks, then removes; on both, the last plain writer wins.
	Preconditions bool
	// Directories: the store has directories, which MkdirAll makes
	// (local paths, hdfs://); on gs:// MkdirAll does nothing.
	Directories bool
}

// ErrUnsupported is returned (wrapped) for an operation a store cannot do,
// and for a scheme no driver serves.
var ErrUnsupported = errors.ErrUnsupported

var drivers struct {
	sync.RWMutex
	m map[string]Driver
}

// Register makes d the driver of scheme ("gs" serves "gs://..."; "" local
// paths). Call it from an init function; registering a scheme twice
// panics.
func Register(scheme string, d Driver) {
	drivers.Lock()
	defer drivers.Unlock()
	if _, dup := drivers.m[scheme]; dup {
		panic(fmt.Sprintf("storage: scheme %q registered twice", scheme))
	}
	if drivers.m == nil {
		drivers.m = map[string]Driver{}
	}
	drivers.m[scheme] = d
}

// driverFor returns the driver of p's scheme.
func driverFor(p string) (Driver, error) {
	s := scheme(p)
	drivers.RLock()
	d, ok := drivers.m[s]
	drivers.RUnlock()
	if !ok {
		return nil, fmt.Errorf("storage: %s: %w: no driver serves the scheme %q (there are: %s)", p, ErrUnsupported, s, registered())
	}
	return d, nil
}

func registered() string {
	drivers.RLock()
	defer drivers.RUnlock()
	var names []string
	for s := range drivers.m {
		if s == "" {
			s = "local paths"
		} else {
			s += "://"
		}
		names = append(names, s)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// CapabilitiesOf returns the guarantees of the store of p.
func CapabilitiesOf(p string) (Capabilities, error) {
	d, err := driverFor(p)
	if err != nil {
		return Capabilities{}, err
	}
	return d.Capabilities(), nil
}

// Helpers that drivers share.

// unsupported is the error of an operation a store cannot do.
func unsupported(op, p, why string) error {
	return wrapErr(op, p, fmt.Errorf("%w: %s", ErrUnsupported, why))
}

// streamConcat writes dst with WriteFile (so it appears whole) from srcs
// read in order, through this process. A local source is read as an
// *os.File, which lets a local destination copy in the kernel
// (copy_file_range).
func streamConcat(ctx context.Context, dst string, srcs []string) error {
	return WriteFile(ctx, dst, func(w io.Writer) error {
		for _, src := range srcs {
			var r io.ReadCloser
			var err error
			if IsLocal(src) {
				if r, err = os.Open(src); err != nil {
					err = wrapErr("open", src, err)
				}
			} else {
				r, err = Open(ctx, src)
			}
			if err != nil {
				return err
			}
			_, err = io.Copy(w, r)
			r.Close()
			if err != nil {
				return wrapErr("read", src, err)
			}
		}
		return nil
	})
}

// appendRounds is how often appendByRewrite reads and rewrites before it
// gives up to other appenders.
const appendRounds = 5

// appendByRewrite appends line to p on a store without appends: it reads
// p with its generation and writes it back with line on the condition
// that nobody changed it meanwhile (WriteIfGeneration), up to appendRounds
// times; then it returns the last ErrChanged.
func appendByRewrite(ctx context.Context, d Driver, p string, line []byte) error {
	var err error
	for range appendRounds {
		old, gen, rerr := d.ReadGeneration(ctx, p)
		if rerr != nil && !IsNotExist(rerr) {
			return rerr
		}
		if err = d.WriteIfGeneration(ctx, p, append(old, line...), gen); !errors.Is(err, ErrChanged) {
			return err
		}
	}
	return err
}
