//go:build !linux

package bench

import (
	"runtime"
	"syscall"
	"time"
)

// The bench measures CPU, RSS and disk space through Linux interfaces; elsewhere those figures
// read as zero.

func cpuTime() time.Duration { return 0 }
func peakRSS() int64         { return 0 }
func currentRSS() int64      { return 0 }
func resetPeakRSS() bool     { return false }
func describeMachine() machine {
	return machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
}

func childAttr() *syscall.SysProcAttr { return nil }

func freeDiskBytes(string) int64 { return -1 }
