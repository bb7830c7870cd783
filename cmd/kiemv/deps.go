package main

// Modules the dashboard and metrics (issue 3) are built on; pinned here until they are used.
import (
	_ "github.com/hibiken/asynqmon"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "golang.org/x/term"
)
