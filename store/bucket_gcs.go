//go:build !kiemv_nogcs

package store

import _ "gocloud.dev/blob/gcsblob" // gs:// (build with -tags kiemv_nogcs to leave it out: ~30 MB less of a ~93 MB binary)
