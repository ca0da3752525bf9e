//go:build !unix

package svcscript

import "syscall"

func detached() *syscall.SysProcAttr { return nil }
