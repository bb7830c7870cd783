package bench

import (
	"os/exec"
	"runtime"
)

// goMemory is the Go heap in use plus goroutine stacks, after a full GC.
func goMemory() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// machine describes where the figures come from.
type machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemTotal string `json:"mem_total"`
	OS       string `json:"os"`
	Go       string `json:"go"`
}

// lookPath returns the path of an installed program, or "" when it is not installed.
func lookPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}
