package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"

	gcs "cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/gcsx"
	"github.com/lightbeam-ml/lightbeam/internal/crc32c"
)

// maxComposeSources is the most objects one GCS compose request takes.
const maxComposeSources = 32

// Concat joins objects of one bucket on the server (object composition,
// in rounds of at most 32 sources through temporary objects beside dst,
// ".NAME.tmp-compose-*", removed after); no byte passes through this
// process. The composition of dst is conditional on dst being what it was
// when Concat began.
func (gcsDriver) Concat(ctx context.Context, dst string, srcs []string) error {
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
		switch {
		case err == nil:
			return nil
		case isPrecondition(err):
			err = fmt.Errorf("%w: another writer replaced it meanwhile", ErrChanged)
		default:
			// Name a source that is missing, as a streamed Concat does
			// (GCS answers 404, the emulator 500).
			for _, n := range group {
				if _, aerr := bh.Object(n).Attrs(ctx); errors.Is(aerr, gcs.ErrObjectNotExist) {
					return fmt.Errorf("storage: compose %s: source %s: %w", dst, "gs://"+bucket+"/"+n, gcsNotExist(aerr))
				}
			}
		}
		return wrapErr("compose", "gs://"+bucket+"/"+target, err)
	}
	run := fmt.Sprintf("%016x", rand.Uint64())
	for round := 0; len(names) > maxComposeSources; round++ {
		var next []string
		for i := 0; i < len(names); i += maxComposeSources {
			// Unique names: a temporary left by an earlier call whose
			// cleanup failed must not meet the DoesNotExist condition.
			target := path.Join(path.Dir(object), fmt.Sprintf(".%s.tmp-compose-%s-%d-%d", path.Base(object), run, round, i/maxComposeSources))
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
