//go:build !unix

package quantize

import "errors"

func mapRange(path string, gen, off, n int64) ([]byte, func(), error) {
	return nil, nil, errors.New("no mmap here")
}
