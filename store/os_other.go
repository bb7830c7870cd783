//go:build !unix

package store

import "os"

// noFollow is 0 where O_NOFOLLOW does not exist; Lstat checks still refuse links there.
const noFollow = 0

// lockFile is a no-op where flock does not exist; run one download worker per directory there.
func lockFile(*os.File) error { return nil }
