//go:build !unix

package gcstest

import "syscall"

func detached() *syscall.SysProcAttr { return nil }
