/* One path syscall per invocation, its result printed in a form that is the same
 * natively and under lxbrand's path rules (so the tests compare the two), and races
 * of a second thread against the path the supervisor judges.
 *
 *   pathcall statfs PATH              statfs(2): type, block size, blocks, files, name length, flags
 *   pathcall access PATH MODE         access(2) (MODE: r w x f, any of them)
 *   pathcall faccessat2 PATH MODE E   faccessat2(2); E=1: on an O_PATH fd of PATH with "" + AT_EMPTY_PATH
 *   pathcall readlink PATH            readlink(2); pathcall readlinkfd PATH: readlinkat(O_PATH fd, "")
 *   pathcall chmod PATH MODE          chmod(2), then the mode; fchmod (on an O_RDONLY fd), fchmodat2e (AT_EMPTY_PATH)
 *   pathcall chown PATH UID GID       chown(2); lchown, fchown (O_RDONLY fd), fchownate (AT_EMPTY_PATH)
 *   pathcall utimes PATH              utimes(2) to 1000/2000, then the times; futimens (O_RDONLY fd), utimensate
 *   pathcall xattr PATH               setxattr, getxattr, listxattr, removexattr of user.t; fxattr: the f* calls
 *                                     on an O_RDONLY fd
 *   pathcall inotify PATH             inotify_add_watch(IN_ALL_EVENTS), then (a directory) creates and removes
 *                                     PATH/.n and prints the events' names; inotifynf: IN_DONT_FOLLOW
 *   pathcall chdir PATH               chdir(2), then getcwd and the first line of ./data
 *   pathcall handle PATH FLAGS        name_to_handle_at: size, type, handle bytes (hex), mount id;
 *                                     handle0: with handle_bytes 0 (EOVERFLOW, the size needed)
 *   pathcall execfd PATH              execveat(O_PATH fd, "", AT_EMPTY_PATH) of PATH with argument "whoami"
 *   pathcall whoami                   (what execfd runs) "ran"
 *   pathcall linkfd PATH NEW          linkat(O_RDONLY fd, "", AT_FDCWD, NEW, AT_EMPTY_PATH)
 *   pathcall chroot DIR FILE          chroot(DIR) (after unshare(CLONE_NEWUSER) unless root), then read FILE
 *   pathcall bindmount SRC DST FILE   in a new mount namespace (and user namespace unless root), bind SRC on
 *                                     DST, then read DST/FILE
 *   pathcall setxattrat PATH          setxattrat(2) (Linux 6.13, syscall 463) of user.sx
 *   pathcall uconnect PATH            connect a UNIX stream socket to PATH; ubind PATH: bind one there;
 *                                     usend PATH: sendto a UNIX datagram socket at PATH
 *   pathcall list DIR SIZE OLD        the names in DIR, one a line, read SIZE bytes at a time with getdents64
 *                                     (OLD=1: the old getdents)
 *   pathcall race OP GOOD BAD N       a thread flips the path between GOOD and BAD (same length) while the
 *                                     main thread runs OP N times (at least; on until both outcomes were
 *                                     seen, at most 10 N): OP access (x), chmod, xattr, chdir, inotify, uconnect;
 *                                     prints "race OP ok=.. denied=.. leaked=.. other=.. n=.."
 * Each line is "<what> <result>" or "<what> -1 <strerror>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static int fail(const char *what)
{
    printf("%s -1 %s\n", what, strerror(errno));
    return 1;
}

static int amode(const char *s)
{
    int m = 0;
    for (; *s; s++)
        m |= *s == 'r' ? R_OK : *s == 'w' ? W_OK : *s == 'x' ? X_OK : F_OK;
    return m;
}

static void show_mode(const char *p)
{
    struct stat st;
    if (lstat(p, &st) == 0)
        printf("mode %o\n", st.st_mode & 07777);
}

static void show_times(const char *p)
{
    struct stat st;
    if (stat(p, &st) == 0)
        printf("times %ld %ld\n", (long)st.st_atime, (long)st.st_mtime);
}

static int do_xattr(const char *p, int onfd)
{
    int fd = onfd ? open(p, O_RDONLY) : -1;
    char buf[256];
    ssize_t n;
    if (onfd && fd < 0)
        return fail("open");
    if ((onfd ? fsetxattr(fd, "user.t", "v1", 2, 0) : setxattr(p, "user.t", "v1", 2, 0)) < 0)
        fail("setxattr");
    else
        printf("setxattr 0\n");
    n = onfd ? fgetxattr(fd, "user.t", buf, sizeof(buf)) : getxattr(p, "user.t", buf, sizeof(buf));
    if (n < 0)
        fail("getxattr");
    else
        printf("getxattr %.*s\n", (int)n, buf);
    n = onfd ? fgetxattr(fd, "user.t", NULL, 0) : getxattr(p, "user.t", NULL, 0);
    printf("getxattr-size %zd\n", n);
    n = onfd ? flistxattr(fd, buf, sizeof(buf)) : listxattr(p, buf, sizeof(buf));
    if (n < 0)
        fail("listxattr");
    else {
        for (char *q = buf; q < buf + n; q += strlen(q) + 1)
            if (!strncmp(q, "user.", 5))
                printf("listxattr %s\n", q);
    }
    if ((onfd ? fremovexattr(fd, "user.t") : removexattr(p, "user.t")) < 0)
        fail("removexattr");
    else
        printf("removexattr 0\n");
    return 0;
}

static int do_inotify(const char *p, int nofollow)
{
    int in = inotify_init1(IN_NONBLOCK);
    int wd = inotify_add_watch(in, p, IN_ALL_EVENTS | (nofollow ? IN_DONT_FOLLOW : 0));
    if (wd < 0)
        return fail("inotify_add_watch");
    printf("inotify_add_watch %d\n", wd);
    struct stat st;
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
        char n[4096];
        snprintf(n, sizeof(n), "%s/.n", p);
        close(open(n, O_CREAT | O_WRONLY, 0644));
        unlink(n);
        char buf[4096] __attribute__((aligned(8)));
        ssize_t len = read(in, buf, sizeof(buf));
        for (char *q = buf; len > 0 && q < buf + len;) {
            struct inotify_event *e = (struct inotify_event *)q;
            if (e->len && (e->mask & (IN_CREATE | IN_DELETE)))
                printf("event %s %s\n", e->mask & IN_CREATE ? "create" : "delete", e->name);
            q += sizeof(*e) + e->len;
        }
    }
    return 0;
}

static int do_handle(const char *p, int flags, int size)
{
    struct file_handle *h = calloc(1, sizeof(*h) + 128);
    int mnt = -1;
    h->handle_bytes = size;
    if (name_to_handle_at(AT_FDCWD, p, h, &mnt, flags) < 0) {
        int e = errno;
        printf("name_to_handle_at -1 %s need=%u\n", strerror(e), h->handle_bytes);
        return 1;
    }
    printf("name_to_handle_at bytes=%u type=%d mnt=%d handle=", h->handle_bytes, h->handle_type, mnt);
    for (unsigned i = 0; i < h->handle_bytes; i++)
        printf("%02x", h->f_handle[i]);
    printf("\n");
    return 0;
}

/* -- races ---------------------------------------------------------------- */

static char race_buf[4096];
static struct sockaddr_un race_sun = {.sun_family = AF_UNIX};
static char *race_ptr = race_buf; /* what the flipper flips: the path, or uconnect's sockaddr */
static const char *race_good, *race_bad;
static volatile int race_stop;
static int race_errno; /* the errno of the last "anything else" */

static void *flipper(void *arg)
{
    (void)arg;
    size_t n = strlen(race_good);
    while (!race_stop) {
        memcpy(race_ptr, race_bad, n);
        memcpy(race_ptr, race_good, n);
    }
    return NULL;
}

/* One try: 1 = the allowed path was used, 0 = denied by the rule, 2 = the denied path
 * was used (a leak), -1 = anything else. */
static int race_once(const char *op, const char *bad)
{
    if (!strcmp(op, "access")) {
        /* GOOD is not executable (EACCES), BAD is (0), the rule hides BAD (ENOENT) */
        if (access(race_buf, X_OK) == 0)
            return 2;
        return errno == EACCES ? 1 : errno == ENOENT ? 0 : -1;
    }
    if (!strcmp(op, "chmod")) {
        /* BAD is in a tree the rules keep read-only; its mode is 0644 */
        int r = chmod(race_buf, 0640), e = errno;
        struct stat st;
        if (stat(bad, &st) == 0 && (st.st_mode & 0777) != 0644)
            return 2;
        errno = e;
        return r == 0 ? 1 : e == EACCES ? 0 : -1;
    }
    if (!strcmp(op, "xattr")) {
        int r = setxattr(race_buf, "user.race", "x", 1, 0), e = errno;
        if (getxattr(bad, "user.race", NULL, 0) >= 0)
            return 2;
        errno = e;
        return r == 0 ? 1 : e == EACCES ? 0 : -1;
    }
    if (!strcmp(op, "chdir")) {
        /* whatever directory the race leaves us in, ./data is judged where it is */
        int r = chdir(race_buf), e = errno;
        int fd = open("data", O_RDONLY);
        char c[16] = {0};
        int leak = fd >= 0 && read(fd, c, sizeof(c) - 1) > 0 && !strncmp(c, "SECRET", 6);
        if (fd >= 0)
            close(fd);
        if (leak)
            return 2;
        errno = e;
        return r == 0 ? 1 : e == ENOENT ? 0 : -1;
    }
    if (!strcmp(op, "uconnect")) {
        /* GOOD and BAD are listening UNIX sockets; the peer's name tells which we reached */
        struct sockaddr_un peer;
        socklen_t len = sizeof(peer);
        int s = socket(AF_UNIX, SOCK_STREAM, 0), r = connect(s, (struct sockaddr *)&race_sun, sizeof(race_sun));
        int e = errno;
        int leak = r == 0 && getpeername(s, (struct sockaddr *)&peer, &len) == 0 && !strcmp(peer.sun_path, bad);
        close(s);
        if (leak)
            return 2;
        errno = e;
        return r == 0 ? 1 : e == ENOENT ? 0 : -1;
    }
    if (!strcmp(op, "inotify")) {
        /* read is denied on the directory BAD (creating in it is not): a watch there
         * reports the file made in BAD below, a watch on GOOD does not */
        static int in = -1;
        if (in < 0)
            in = inotify_init1(IN_NONBLOCK);
        int wd = inotify_add_watch(in, race_buf, IN_CREATE);
        if (wd < 0)
            return errno == EACCES ? 0 : -1;
        char n[4200];
        snprintf(n, sizeof(n), "%s/.m", bad);
        close(open(n, O_CREAT | O_WRONLY, 0644));
        unlink(n);
        int leak = 0;
        char buf[4096] __attribute__((aligned(8)));
        ssize_t len;
        inotify_rm_watch(in, wd);
        while ((len = read(in, buf, sizeof(buf))) > 0)
            for (char *q = buf; q < buf + len; q += sizeof(struct inotify_event) + ((struct inotify_event *)q)->len)
                if (((struct inotify_event *)q)->mask & IN_CREATE)
                    leak = 1;
        return leak ? 2 : 1;
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *m = argv[1], *p = argc > 2 ? argv[2] : "";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(m, "statfs")) {
        struct statfs s;
        if (statfs(p, &s) < 0)
            return fail("statfs");
        printf("statfs type=%lx bsize=%ld blocks=%ld files=%ld namelen=%ld flags=%lx\n", (long)s.f_type,
               (long)s.f_bsize, (long)s.f_blocks, (long)s.f_files, (long)s.f_namelen, (long)s.f_flags);
    } else if (!strcmp(m, "access")) {
        if (access(p, amode(argv[3])) < 0)
            return fail("access");
        printf("access 0\n");
    } else if (!strcmp(m, "faccessat2")) {
        int e = atoi(argv[4]);
        int fd = e ? open(p, O_PATH) : AT_FDCWD;
        if (syscall(SYS_faccessat2, fd, e ? "" : p, amode(argv[3]), e ? AT_EMPTY_PATH : 0) < 0)
            return fail("faccessat2");
        printf("faccessat2 0\n");
    } else if (!strcmp(m, "readlink") || !strcmp(m, "readlinkfd")) {
        char buf[4096] = {0};
        ssize_t n;
        if (!strcmp(m, "readlink"))
            n = readlink(p, buf, sizeof(buf) - 1);
        else {
            int fd = open(p, O_PATH | O_NOFOLLOW);
            if (fd < 0)
                return fail("open");
            n = readlinkat(fd, "", buf, sizeof(buf) - 1);
        }
        if (n < 0)
            return fail(m);
        printf("%s %s\n", m, buf);
        n = readlink(p, buf, 2); /* truncated, as readlink(2) does */
        printf("%s-short %zd %.2s\n", m, n, buf);
    } else if (!strcmp(m, "chmod") || !strcmp(m, "fchmod") || !strcmp(m, "fchmodat2e")) {
        mode_t mode = strtol(argv[3], NULL, 8);
        int r;
        if (!strcmp(m, "chmod"))
            r = chmod(p, mode);
        else if (!strcmp(m, "fchmod"))
            r = fchmod(open(p, O_RDONLY), mode);
        else
            r = syscall(SYS_fchmodat2, open(p, O_PATH), "", mode, AT_EMPTY_PATH);
        if (r < 0)
            return fail(m);
        printf("%s 0\n", m);
        show_mode(p);
    } else if (!strcmp(m, "chown") || !strcmp(m, "lchown") || !strcmp(m, "fchown") || !strcmp(m, "fchownate")) {
        uid_t u = atoi(argv[3]);
        gid_t g = atoi(argv[4]);
        int r;
        if (!strcmp(m, "chown"))
            r = chown(p, u, g);
        else if (!strcmp(m, "lchown"))
            r = lchown(p, u, g);
        else if (!strcmp(m, "fchown"))
            r = fchown(open(p, O_RDONLY), u, g);
        else
            r = fchownat(open(p, O_PATH | O_NOFOLLOW), "", u, g, AT_EMPTY_PATH);
        if (r < 0)
            return fail(m);
        struct stat st;
        lstat(p, &st);
        printf("%s 0 owner %d %d\n", m, (int)st.st_uid, (int)st.st_gid);
    } else if (!strcmp(m, "utimes") || !strcmp(m, "futimens") || !strcmp(m, "utimensate")) {
        struct timeval tv[2] = {{1000, 0}, {2000, 0}};
        struct timespec ts[2] = {{1000, 0}, {2000, 0}};
        int r;
        if (!strcmp(m, "utimes"))
            r = utimes(p, tv);
        else if (!strcmp(m, "futimens"))
            r = futimens(open(p, O_RDONLY), ts);
        else
            r = utimensat(open(p, O_PATH), "", ts, AT_EMPTY_PATH);
        if (r < 0)
            return fail(m);
        printf("%s 0\n", m);
        show_times(p);
    } else if (!strcmp(m, "xattr") || !strcmp(m, "fxattr")) {
        return do_xattr(p, m[0] == 'f');
    } else if (!strcmp(m, "inotify") || !strcmp(m, "inotifynf")) {
        return do_inotify(p, !strcmp(m, "inotifynf"));
    } else if (!strcmp(m, "chdir")) {
        if (chdir(p) < 0)
            return fail("chdir");
        char cwd[4096], c[64] = {0};
        printf("chdir 0 cwd=%s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
        int fd = open("data", O_RDONLY);
        if (fd < 0)
            return fail("open ./data");
        if (read(fd, c, sizeof(c) - 1) >= 0)
            printf("data %s", c);
    } else if (!strcmp(m, "handle") || !strcmp(m, "handle0")) {
        return do_handle(p, argc > 3 ? strtol(argv[3], NULL, 0) : 0, m[6] == '0' ? 0 : 128);
    } else if (!strcmp(m, "execfd")) {
        int fd = open(p, O_PATH);
        char *av[] = {(char *)p, "whoami", NULL};
        syscall(SYS_execveat, fd, "", av, NULL, AT_EMPTY_PATH);
        return fail("execveat");
    } else if (!strcmp(m, "whoami")) {
        printf("ran\n");
    } else if (!strcmp(m, "linkfd")) {
        if (linkat(open(p, O_RDONLY), "", AT_FDCWD, argv[3], AT_EMPTY_PATH) < 0)
            return fail("linkat");
        printf("linkat 0\n");
    } else if (!strcmp(m, "chroot") || !strcmp(m, "bindmount")) {
        int mnt = !strcmp(m, "bindmount");
        char path[4200], c[64] = {0};
        if (unshare((geteuid() ? CLONE_NEWUSER : 0) | (mnt ? CLONE_NEWNS : 0)) < 0)
            return fail("unshare");
        if (mnt) {
            if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return fail("mount-private");
            if (mount(p, argv[3], NULL, MS_BIND, NULL) < 0)
                return fail("mount");
            snprintf(path, sizeof(path), "%s/%s", argv[3], argv[4]);
        } else {
            if (chroot(p) < 0)
                return fail("chroot");
            snprintf(path, sizeof(path), "%s", argv[3]);
        }
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            return fail("open");
        if (read(fd, c, sizeof(c) - 1) >= 0)
            printf("read %s", c);
    } else if (!strcmp(m, "setxattrat")) {
        struct {
            unsigned long long value;
            unsigned int size, flags;
        } xa = {(unsigned long)"v", 1, 0};
        if (syscall(463, AT_FDCWD, p, 0, "user.sx", &xa, sizeof(xa)) < 0)
            return fail("setxattrat");
        printf("setxattrat 0\n");
    } else if (!strcmp(m, "uconnect") || !strcmp(m, "ubind") || !strcmp(m, "usend")) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", p);
        int s = socket(AF_UNIX, m[1] == 's' ? SOCK_DGRAM : SOCK_STREAM, 0);
        long r;
        if (m[1] == 'c')
            r = connect(s, (struct sockaddr *)&sun, sizeof(sun));
        else if (m[1] == 'b')
            r = bind(s, (struct sockaddr *)&sun, sizeof(sun));
        else
            r = sendto(s, "hi", 2, 0, (struct sockaddr *)&sun, sizeof(sun));
        if (r < 0)
            return fail(m);
        printf("%s %ld\n", m, r);
    } else if (!strcmp(m, "list")) {
        int fd = open(p, O_RDONLY | O_DIRECTORY), size = atoi(argv[3]), old = atoi(argv[4]);
        char *buf = malloc(size);
        long n;
        if (fd < 0)
            return fail("open");
        while ((n = syscall(old ? SYS_getdents : SYS_getdents64, fd, buf, size)) > 0)
            for (long i = 0; i < n;) {
                unsigned short reclen = *(unsigned short *)(buf + i + 16);
                printf("%s\n", buf + i + (old ? 18 : 19));
                i += reclen;
            }
        if (n < 0)
            return fail("getdents");
    } else if (!strcmp(m, "race")) {
        const char *op = argv[2];
        race_good = argv[3];
        race_bad = argv[4];
        int n = atoi(argv[5]), ok = 0, denied = 0, leaked = 0, other = 0, i;
        if (strlen(race_good) != strlen(race_bad))
            return 2;
        strcpy(race_buf, race_good);
        strcpy(race_sun.sun_path, race_good);
        if (!strcmp(op, "uconnect"))
            race_ptr = race_sun.sun_path; /* the sockaddr itself flips */
        pthread_t t;
        pthread_create(&t, NULL, flipper, NULL);
        for (i = 0; i < n || ((ok == 0 || denied == 0) && i < 10 * n); i++) {
            int r = race_once(op, race_bad);
            if (r == 1)
                ok++;
            else if (r == 0)
                denied++;
            else if (r == 2)
                leaked++;
            else {
                other++;
                race_errno = errno;
            }
        }
        race_stop = 1;
        pthread_join(t, NULL);
        printf("race %s ok=%d denied=%d leaked=%d other=%d n=%d lasterr=%d\n", op, ok, denied, leaked, other, i,
               race_errno);
    } else {
        return 2;
    }
    return 0;
}
