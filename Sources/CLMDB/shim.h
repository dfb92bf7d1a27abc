#include <lmdb.h>

#ifdef __linux__
#include <sys/types.h>

/// glibc's `sync_file_range` (fcntl.h declares it only under _GNU_SOURCE, which Swift's Glibc module is
/// built without). 2 is SYNC_FILE_RANGE_WRITE: start writing the range's dirty pages, do not wait.
int sync_file_range(int fd, __off64_t offset, __off64_t count, unsigned int flags);

/// Starts writing back a file's dirty pages without waiting. Returns 0, or -1 with errno set.
static inline int nextbest_start_writeback(int fd) {
    return sync_file_range(fd, 0, 0, 2);
}
#endif
