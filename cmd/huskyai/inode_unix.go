//go:build unix

package main

import (
	"os"
	"syscall"
)

// inodeOf is fi's inode number, which a rename over the file changes.
func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
