//go:build unix

package svcscript

import "syscall"

// detached puts the watchdog in its own process group.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
