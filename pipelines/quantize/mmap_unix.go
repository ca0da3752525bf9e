//go:build unix

package quantize

import (
	"fmt"
	"os"
	"syscall"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// mapRange maps n bytes of the local file at path from byte off, read
// only, and returns them with the function that unmaps them. Reading a
// chunk this way costs page faults instead of a copy of every byte.
func mapRange(path string, gen, off, n int64) ([]byte, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	// A byte mapped past the end would fault (SIGBUS) when read: refuse a
	// file that shrank since it was planned.
	st, err := f.Stat()
	if err != nil || st.Size() < off+n {
		return nil, nil, fmt.Errorf("%s is shorter than byte %d: changed since it was planned", path, off+n)
	}
	if gen != 0 && storage.LocalGeneration(st) != gen {
		return nil, nil, fmt.Errorf("%s: %w since it was planned", path, storage.ErrChanged)
	}
	page := int64(os.Getpagesize())
	start := off / page * page
	m, err := syscall.Mmap(int(f.Fd()), start, int(off+n-start), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return m[off-start:], func() { syscall.Munmap(m) }, nil
}
