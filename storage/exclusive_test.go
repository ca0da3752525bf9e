package storage

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

// Exclusive creation and generation-checked removal, locally and on gs://:
// the operations a lock is made of.
func TestExclusive(t *testing.T) {
	ctx := context.Background()
	for _, where := range []string{"local", "gs"} {
		t.Run(where, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "sub", "LOCK")
			if where == "gs" {
				p = Join(gcstest.Root(t), "LOCK")
			}
			if err := CreateExclusive(ctx, p, []byte("first")); err != nil {
				t.Fatal(err)
			}
			if err := CreateExclusive(ctx, p, []byte("second")); !errors.Is(err, ErrExist) {
				t.Fatalf("a second exclusive create: %v, want ErrExist", err)
			}
			b, g1, err := ReadGeneration(ctx, p)
			if err != nil || string(b) != "first" {
				t.Fatalf("ReadGeneration = %q, %v", b, err)
			}
			if err := RemoveIfGeneration(ctx, p, g1); err != nil {
				t.Fatal(err)
			}
			if err := CreateExclusive(ctx, p, []byte("third")); err != nil {
				t.Fatal(err)
			}
			if err := RemoveIfGeneration(ctx, p, g1); !errors.Is(err, ErrChanged) {
				t.Errorf("removing with a stale generation: %v, want ErrChanged", err)
			}
			if b, _, err := ReadGeneration(ctx, p); err != nil || string(b) != "third" {
				t.Errorf("after a stale removal: %q, %v; want the new file kept", b, err)
			}
		})
	}
}
