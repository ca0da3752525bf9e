package storage

import (
	"context"
	"fmt"
	"io"
	"os"

	gcs "cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/gcsx"
)

// maxComposeSources is the most objects one GCS compose request takes.
const maxComposeSources = 32

// Concat atomically writes dst as the concatenation of the files srcs, in
// order, and leaves srcs in place. gs:// objects in one bucket are joined
// by the server (object composition, in rounds of 32 through temporary
// objects beside dst that are removed after), so no byte passes through
// this process; anything else is streamed through WriteFile, so dst
// appears only when complete.
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
	defer client.Close()
	bh := client.Bucket(bucket)
	var temps []string
	defer func() {
		for _, t := range temps {
			_ = bh.Object(t).Delete(context.WithoutCancel(ctx))
		}
	}()
	compose := func(target string, group []string) error {
		hs := make([]*gcs.ObjectHandle, len(group))
		for j, n := range group {
			hs[j] = bh.Object(n)
		}
		if _, err := bh.Object(target).ComposerFrom(hs...).Run(ctx); err != nil {
			return wrapErr("compose", "gs://"+bucket+"/"+target, err)
		}
		return nil
	}
	if len(names) == 0 {
		return fmt.Errorf("storage: compose %s: no sources", dst)
	}
	for round := 0; len(names) > maxComposeSources; round++ {
		var next []string
		for i := 0; i < len(names); i += maxComposeSources {
			target := fmt.Sprintf("%s.compose-%d-%d", object, round, i/maxComposeSources)
			temps = append(temps, target)
			if err := compose(target, names[i:min(i+maxComposeSources, len(names))]); err != nil {
				return err
			}
			next = append(next, target)
		}
		names = next
	}
	return compose(object, names)
}
