//go:build !unix

package store

import "os"

// lockFile is a no-op where flock does not exist; run one download worker per directory there.
func lockFile(*os.File) error { return nil }
