//go:build !kiemv_noazure

package store

import _ "gocloud.dev/blob/azureblob" // azblob:// (build with -tags kiemv_noazure to leave it out: ~3.5 MB less)
