/* Paths as the program sees them: the one resolver of the engine.
 *
 * A path the program gives is made absolute in its view (its root, its cwd or
 * dirfd, /proc/self naming it), then walked by the kernel from its root with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): symlinks and ".." resolve
 * inside its root as they would for it, and the magic links of /proc
 * (/proc/PID/fd/N, root, cwd), which reach files without a path a rule could
 * judge, are refused (ELOOP).  Rules are matched on the path of what the walk
 * reached, in the program's view (SECURITY.md).
 */
#ifndef LX_RESOLVE_H
#define LX_RESOLVE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct lx_sup;
struct lx_call;
struct lx_view;

#define LX_PATH_MAX 4096
#define LX_AT_FDCWD (-100)

/* The path argument at addr, read once (NUL-terminated into buf, LX_PATH_MAX):
 * its length, or -EFAULT / -ENAMETOOLONG as the kernel would answer. */
ssize_t lx_read_path(struct lx_call *c, uint64_t addr, char *buf);

/* The absolute path in the program's view of (dirfd, path) for thread v: a
 * relative path is joined to its cwd or its dirfd's directory (as /proc shows
 * them, less its root), "." and empty components are dropped (a trailing one
 * leaves a trailing '/', which still asks for a directory), ".." is kept for
 * the walk, and /proc/self and /proc/thread-self are the program's own
 * (the supervisor walks the path: for it they would name itself).  Returns the
 * length, or -errno (-EBADF, -ENOTDIR for a dirfd that is not a directory,
 * -EACCES for one outside its root, -ENAMETOOLONG). */
ssize_t lx_guest_path(struct lx_view *v, int dirfd, const char *path, char *out);
/* Does the path have a ".." component? */
int lx_has_dotdot(const char *p);
/* The path without its trailing '/' (what rules match): its length */
size_t lx_match_len(const char *p, size_t n);

/* openat2(2); the fd or -errno */
int lx_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
/* The program's view of where the supervisor's fd leads (readlink of
 * /proc/self/fd/N, less the program's root); its length or -errno */
ssize_t lx_real_path(struct lx_view *v, int fd, char *out);
/* A supervisor copy of the program's fd (pidfd_getfd(2)), or of its cwd for
 * AT_FDCWD; -EBADF if it has no such fd */
int lx_take_fd(struct lx_sup *s, struct lx_call *c, int fd);

/* Is it the supervisor's own /proc/PID (or below)?  /proc lets a process into
 * its own entries whatever its credentials, and the supervisor opens for the
 * program: never on its behalf. */
int lx_is_supervisor_proc(const struct lx_sup *s, const char *guest, size_t n);
#endif
