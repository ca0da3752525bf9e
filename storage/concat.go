package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"

	gcs "cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/gcsx"
	"github.com/lightbeam-ml/lightbeam/internal/crc32c"
)

// maxComposeSources is the most objects one GCS compose request takes.
const maxComposeSources = 32

// Concat atomically writes dst as the concatenation of the files srcs, in
// order, and leaves srcs in place. gs:// objects in one bucket are joined
// by the server (object composition, in rounds of 32 through temporary
// objects beside dst that are removed after), so no byte passes through
// this process; anything else is streamed through WriteFile, so dst
// appears only when complete. Like WriteFile, the composition of dst is
// conditional on dst being what it was when Concat began (ErrChanged if
// another writer replaced it meanwhile).
func Concat(ctx context.Context, dst string, srcs []string) error {
	if scheme(dst) == "gs" {
		return composeGCS(ctx, dst, srcs)
	}
	return WriteFile(ctx, dst, func(w io.Writer) error {
		for _, src := range srcs {
			var r io.ReadCloser
			var err error
			if IsLocal(src) {
				// An *os.File lets a local destination copy in the kernel
				// (copy_file_range) instead of through this process.
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

func composeGCS(ctx context.Context, dst string, srcs []string) error {
	bucket, object, err := gcsx.ParseObject(dst)
	if err != nil {
		return wrapErr("compose", dst, err)
	}
	names := make([]string, len(srcs))
	for i, src := range srcs {
		b, o, err := gcsx.ParseObject(src)
		if err != nil {
			return wrapErr("compose", dst, err)
		}
		if b != bucket {
			return fmt.Errorf("storage: compose %s: source %s is in another bucket", dst, src)
		}
		names[i] = o
	}
	client, err := gcsClient(ctx, gcs.ScopeReadWrite)
	if err != nil {
		return wrapErr("compose", dst, err)
	}
	bh := client.Bucket(bucket)
	var cond gcs.Conditions
	switch attrs, err := bh.Object(object).Attrs(ctx); {
	case err == nil:
		cond = gcs.Conditions{GenerationMatch: attrs.Generation}
	case errors.Is(err, gcs.ErrObjectNotExist):
		cond = gcs.Conditions{DoesNotExist: true}
	default:
		return wrapErr("compose", dst, err)
	}
	var temps []string
	defer func() {
		for _, t := range temps {
			_ = bh.Object(t).Delete(context.WithoutCancel(ctx))
		}
	}()
	// Every composition is conditional, so the library retries it: the
	// temporary objects must not exist yet, dst must be as it was.
	compose := func(target string, group []string, cond gcs.Conditions) error {
		hs := make([]*gcs.ObjectHandle, len(group))
		for j, n := range group {
			hs[j] = bh.Object(n)
		}
		_, err := bh.Object(target).If(cond).ComposerFrom(hs...).Run(ctx)
		if err != nil && isPrecondition(err) && composed(ctx, bh, target, group) {
			err = nil // a retry of a composition that had landed
		}
		if err != nil {
			if isPrecondition(err) {
				err = fmt.Errorf("%w: another writer replaced it meanwhile", ErrChanged)
			}
			return wrapErr("compose", "gs://"+bucket+"/"+target, err)
		}
		return nil
	}
	if len(names) == 0 {
		return fmt.Errorf("storage: compose %s: no sources", dst)
	}
	run := strconv.FormatUint(rand.Uint64(), 36)
	for round := 0; len(names) > maxComposeSources; round++ {
		var next []string
		for i := 0; i < len(names); i += maxComposeSources {
			// Unique names: a temporary left by an earlier call whose
			// cleanup failed must not meet the DoesNotExist condition.
			target := fmt.Sprintf("%s.compose-%s-%d-%d", object, run, round, i/maxComposeSources)
			temps = append(temps, target)
			if err := compose(target, names[i:min(i+maxComposeSources, len(names))], gcs.Conditions{DoesNotExist: true}); err != nil {
				return err
			}
			next = append(next, target)
		}
		names = next
	}
	return compose(object, names, cond)
}

// composed reports whether the object target is the composition of the
// objects srcs (by size and CRC32C), as after a composition whose answer
// was lost.
func composed(ctx context.Context, bh *gcs.BucketHandle, target string, srcs []string) bool {
	ctx = context.WithoutCancel(ctx)
	got, err := bh.Object(target).Attrs(ctx)
	if err != nil {
		return false
	}
	var size int64
	var crc uint32
	for _, n := range srcs {
		a, err := bh.Object(n).Attrs(ctx)
		if err != nil {
			return false
		}
		crc = crc32c.Combine(crc, a.CRC32C, a.Size)
		size += a.Size
	}
	return got.Size == size && got.CRC32C == crc
}
