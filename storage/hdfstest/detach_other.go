//go:build !unix

package hdfstest

import "syscall"

func detached() *syscall.SysProcAttr { return nil }
