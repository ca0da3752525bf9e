//go:build unix

package hdfstest

import "syscall"

// detached puts the watchdog in its own process group.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
