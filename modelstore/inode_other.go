//go:build !unix

package modelstore

import "io/fs"

// inode is 0 where there are no inode numbers: size and modification time
// remain.
func inode(fs.FileInfo) uint64 { return 0 }
