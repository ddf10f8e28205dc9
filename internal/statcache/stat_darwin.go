package statcache

import (
	"io/fs"
	"syscall"
)

// changeTimeInode returns the file's change time (ns) and inode. macOS
// names the change time Ctimespec where Linux names it Ctim.
func changeTimeInode(fi fs.FileInfo) (ctime int64, inode uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return st.Ctimespec.Sec*1e9 + st.Ctimespec.Nsec, st.Ino
}
