/* Attacks on the sandbox, one per mode; each prints one line per attempt,
 * "<what> <result> [<strerror>]", so the tests assert exact outcomes.
 *
 *   attack tiocsti | tioclinux        push input into the terminal on fd 0
 *   attack handle PATH                name_to_handle_at + open_by_handle_at (reads PATH without its path)
 *   attack supmem                     open /proc/<supervisor>/mem read-write
 *   attack supfd                      the supervisor's fds: /proc/<sup>/fd and pidfd_getfd
 *   attack supsig SIG                 kill(<supervisor>, SIG), then check the supervisor is alive
 *   attack tsync [PORT]               install an allow-all filter with SECCOMP_FILTER_FLAG_TSYNC (and one with
 *                                     a listener), then getppid, unshare(0), TIOCSTI, a UDP connect to 127.0.0.3
 *   attack vforkexec N SELF           N threads racing vfork+exec of SELF child; children report their Seccomp mode
 *   attack child                      (what vforkexec's children run)
 *   attack asuser UID PROG ARGS...    drop to UID and exec PROG (setpriv needs capset, which strict refuses)
 *   attack pathrace GOOD BAD N        a thread flips the path between GOOD and BAD; N opens+reads
 *   attack symrace DIR N              a thread swaps DIR/x (file) and DIR/y (symlink to a secret); N opens+reads
 *   attack execrace GOOD BAD N        vfork children exec a path a thread flips between GOOD and BAD
 *   attack whoami                     print /proc/self/exe
 *   attack openat2 DIR PATH RESOLVE   openat2 with the program's own RESOLVE_* flags, relative to DIR
 *   attack creat PATH                 the creat(2) syscall itself
 *   attack uid                        print the effective uid (a setuid copy shows what setuid gives)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

static void report(const char *what, long r)
{
    if (r < 0)
        printf("%s -1 %s\n", what, strerror(errno));
    else
        printf("%s %ld\n", what, r);
    fflush(stdout);
}

static char *self_path;
static volatile int race_stop;
static char *race_good, *race_bad, *race_buf, *race_dir;

static void *flipper(void *arg)
{
    (void)arg;
    size_t n = strlen(race_good);
    while (!race_stop) {
        memcpy(race_buf, race_bad, n);
        memcpy(race_buf, race_good, n);
    }
    return NULL;
}

static void *swapper(void *arg)
{
    (void)arg;
    int d = open(race_dir, O_RDONLY | O_DIRECTORY);
    while (!race_stop)
        syscall(SYS_renameat2, d, "x", d, "y", 2 /* RENAME_EXCHANGE */);
    return NULL;
}

/* the supervisor's pid from /proc (getppid may be emulated by the policy under test) */
static pid_t real_ppid(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    pid_t p = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "PPid:", 5))
            p = atoi(line + 5);
    if (f)
        fclose(f);
    return p;
}

static void *vfork_thread(void *arg)
{
    long n = (long)arg;
    for (long i = 0; i < n; i++) {
        pid_t p = vfork();
        if (p == 0) {
            char *av[] = {self_path, "child", NULL};
            execve(self_path, av, environ);
            _exit(127);
        }
        int st;
        waitpid(p, &st, 0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *m = argv[1];
    pid_t sup = real_ppid();
    if (!strcmp(m, "tiocsti")) {
        char c = 'x';
        report("tiocsti", ioctl(0, TIOCSTI, &c));
        /* the same command with garbage in the upper 32 bits (the kernel ignores them) */
        report("tiocsti64", syscall(SYS_ioctl, 0, 0xdead000000000000UL | TIOCSTI, &c));
    } else if (!strcmp(m, "tioclinux")) {
        char sub = 2; /* TIOCL_SETSEL: harmless on a pty, refused by the kernel with ENOTTY/EINVAL natively */
        report("tioclinux", ioctl(0, TIOCLINUX, &sub));
    } else if (!strcmp(m, "handle")) {
        struct file_handle *h = malloc(sizeof(*h) + 128);
        h->handle_bytes = 128;
        int mnt;
        long r = syscall(SYS_name_to_handle_at, AT_FDCWD, argv[2], h, &mnt, 0);
        report("name_to_handle_at", r);
        int mfd = open("/", O_RDONLY | O_DIRECTORY);
        r = syscall(SYS_open_by_handle_at, mfd, h, O_RDONLY);
        report("open_by_handle_at", r);
        if (r >= 0) {
            char buf[64] = {0};
            report("read", read((int)r, buf, sizeof(buf) - 1));
        }
    } else if (!strcmp(m, "supmem")) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/mem", sup);
        report("supmem", open(p, O_RDWR));
        snprintf(p, sizeof(p), "/proc/%d/root/", sup);
        report("suproot", open(p, O_RDONLY | O_DIRECTORY));
    } else if (!strcmp(m, "supfd")) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/fd", sup);
        DIR *d = opendir(p);
        report("supfd_dir", d ? 0 : -1);
        int pidfd = (int)syscall(SYS_pidfd_open, sup, 0);
        report("pidfd_open", pidfd);
        int got = 0;
        for (int fd = 0; fd < 64 && pidfd >= 0; fd++)
            if (syscall(SYS_pidfd_getfd, pidfd, fd, 0) >= 0)
                got++;
        printf("pidfd_getfd %d\n", got);
    } else if (!strcmp(m, "supsig")) {
        int sig = atoi(argv[2]);
        /* never signal anything but the supervisor, even if /proc lied to us (a test
         * must not stop the test runner): under lxrun our parent is also our tracer */
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        int tracer = -1;
        while (f && fgets(line, sizeof(line), f))
            if (!strncmp(line, "TracerPid:", 10))
                tracer = atoi(line + 10);
        if (f)
            fclose(f);
        if (tracer != sup) {
            printf("not the supervisor: ppid %d, tracer %d\n", sup, tracer);
            return 3;
        }
        report("kill", kill(sup, sig));
        report("tgkill", syscall(SYS_tgkill, sup, sup, sig));
        report("alive", kill(sup, 0) < 0 && errno == ESRCH ? -1 : 0);
    } else if (!strcmp(m, "tsync")) {
        struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
        struct sock_fprog fp = {1, allow};
        report("tsync_listener",
               syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                       SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH | SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp));
        report("tsync", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fp));
        report("getppid", syscall(SYS_getppid));
        report("unshare", unshare(0));
        if (argc > 2) {  /* a UDP connect to 127.0.0.3:PORT, which the network-denying policy refuses */
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
            a.sin_addr.s_addr = htonl(0x7f000003);
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            report("connect", connect(s, (struct sockaddr *)&a, sizeof(a)));
        }
        char c = 'x';
        report("tiocsti", ioctl(0, TIOCSTI, &c));
    } else if (!strcmp(m, "vforkexec")) {
        int n = atoi(argv[2]);
        self_path = argv[3];
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, vfork_thread, (void *)(long)n);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        printf("vforkexec done\n");
    } else if (!strcmp(m, "child")) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        int seccomp = -1, traced = 0;
        while (f && fgets(line, sizeof(line), f)) {
            if (!strncmp(line, "Seccomp:", 8))
                seccomp = atoi(line + 8);
            if (!strncmp(line, "TracerPid:", 10))
                traced = atoi(line + 10) != 0;
        }
        printf("child seccomp=%d traced=%d ppid=%ld\n", seccomp, traced, syscall(SYS_getppid));
    } else if (!strcmp(m, "asuser")) {  /* asuser UID PROG ARGS...: drop to UID (no capset: strict has none), exec */
        uid_t u = (uid_t)atoi(argv[2]);
        if (setgroups(0, NULL) < 0 || setresgid(u, u, u) < 0 || setresuid(u, u, u) < 0) {
            report("drop", -1);
            return 1;
        }
        execv(argv[3], argv + 3);
        report("exec", -1);
        return 1;
    } else if (!strcmp(m, "pathrace") || !strcmp(m, "symrace")) {
        /* pathrace GOOD BAD N: a thread flips the path string between GOOD and BAD (same length);
         * symrace DIR N: a thread swaps DIR/x (a file) and DIR/y (a symlink to the secret) with
         * RENAME_EXCHANGE.  Either way the main thread opens and reads N times. */
        int sym = !strcmp(m, "symrace");
        int n = atoi(argv[sym ? 3 : 4]);
        static char buf[4096];
        race_dir = sym ? argv[2] : NULL;
        if (!sym) {
            race_good = argv[2];
            race_bad = argv[3];
            strcpy(buf, race_good);
            race_buf = buf;
        } else {
            snprintf(buf, sizeof(buf), "%s/x", race_dir);
        }
        pthread_t t;
        pthread_create(&t, NULL, sym ? swapper : flipper, NULL);
        int ok = 0, denied = 0, leaked = 0, other = 0, i;
        /* at least n tries, on until both outcomes were seen (at most 10 n) */
        for (i = 0; i < n || ((ok == 0 || denied == 0) && i < 10 * n); i++) {
            int fd = open(buf, O_RDONLY);
            if (fd < 0) {
                if (errno == EACCES)
                    denied++;
                else
                    other++;
                continue;
            }
            char c[16] = {0};
            if (read(fd, c, sizeof(c) - 1) > 0 && !strncmp(c, "SECRET", 6))
                leaked++;
            else
                ok++;
            close(fd);
        }
        race_stop = 1;
        pthread_join(t, NULL);
        printf("%s ok=%d denied=%d leaked=%d other=%d n=%d\n", m, ok, denied, leaked, other, i);
    } else if (!strcmp(m, "execrace")) {
        /* execrace GOOD BAD N: vfork children exec the path a thread of ours keeps flipping
         * between GOOD and BAD (the child shares our memory); each exec'd copy prints its exe */
        static char buf[4096];
        race_good = argv[2];
        race_bad = argv[3];
        strcpy(buf, race_good);
        race_buf = buf;
        int n = atoi(argv[4]), killed = 0, refused = 0, ran = 0;
        pthread_t t;
        pthread_create(&t, NULL, flipper, NULL);
        /* at least n tries, and on until both outcomes were seen (a loaded machine may
         * starve the flipper for a while), at most 10 n */
        for (int i = 0; i < n || ((refused + killed == 0 || ran == 0) && i < 10 * n); i++) {
            pid_t p = vfork();
            if (p == 0) {
                char *av[] = {buf, "whoami", NULL};
                execve(buf, av, environ);
                _exit(errno == EACCES ? 126 : 127);
            }
            int st;
            waitpid(p, &st, 0);
            if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
                killed++;
            else if (WIFEXITED(st) && WEXITSTATUS(st) == 126)
                refused++;
            else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                ran++;
        }
        race_stop = 1;
        pthread_join(t, NULL);
        printf("execrace ran=%d refused=%d killed=%d\n", ran, refused, killed);
    } else if (!strcmp(m, "whoami")) {
        char exe[4096] = {0};
        readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        printf("exe %s\n", exe);
    } else if (!strcmp(m, "openat2")) {
        /* openat2 DIR PATH RESOLVE: openat2(open(DIR), PATH, O_RDONLY, RESOLVE) and read it */
        int d = open(argv[2], O_PATH | O_DIRECTORY);
        struct {
            unsigned long long flags, mode, resolve;
        } how = {O_RDONLY, 0, strtoull(argv[4], NULL, 0)};
        long fd = syscall(SYS_openat2, d, argv[3], &how, sizeof(how));
        char buf[32] = {0};
        if (fd >= 0 && read((int)fd, buf, sizeof(buf) - 1) < 0)
            buf[0] = '?';
        if (fd < 0)
            printf("openat2 -1 %s\n", strerror(errno));
        else
            printf("openat2 %s\n", buf);
    } else if (!strcmp(m, "creat")) {
        report("creat", syscall(SYS_creat, argv[2], 0644));
    } else if (!strcmp(m, "uid")) {
        printf("euid %d\n", (int)geteuid());
    } else {
        return 2;
    }
    return 0;
}
