/* The trace corpus: calls whose strace line does not depend on the run (no pids or
 * addresses beyond what the comparison masks), each once, in a fixed order, so that a
 * trace of it can be compared with strace's line by line (tests/trace/test_strace_equal.py).
 * Runs in a scratch directory holding data.txt ("0123456789abcdef line one\nline two\n"). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

static void on_signal(int sig) { (void)sig; }

int main(void)
{
    char buf[256];
    struct stat st;
    struct utsname u;
    int p[2];
    syscall(SYS_getppid);
    int fd = syscall(SYS_openat, AT_FDCWD, "data.txt", O_RDONLY | O_CLOEXEC);
    syscall(SYS_read, fd, buf, 64);
    syscall(SYS_lseek, fd, 0, SEEK_SET);
    syscall(SYS_read, fd, buf, 3);
    syscall(SYS_fstat, fd, &st);
    syscall(SYS_close, fd);
    syscall(SYS_openat, AT_FDCWD, "/nonexistent/x", O_RDONLY);
    fd = syscall(SYS_openat, AT_FDCWD, "out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0640);
    syscall(SYS_write, fd, "hello\n", 6);
    syscall(SYS_write, fd, "a long line that is longer than thirty-two bytes\n", 49);
    syscall(SYS_write, fd, "\x01\x02\tz\x7f\xff\"\\0", 9);
    syscall(SYS_close, fd);
    syscall(SYS_mkdirat, AT_FDCWD, "dir", 0755);
    syscall(SYS_mkdirat, AT_FDCWD, "dir", 0755);
    syscall(SYS_unlinkat, AT_FDCWD, "dir", AT_REMOVEDIR);
    syscall(SYS_faccessat, AT_FDCWD, "data.txt", R_OK | W_OK);
    syscall(SYS_faccessat, AT_FDCWD, "data.txt", F_OK);
    syscall(SYS_umask, 022);
    syscall(SYS_umask, 022);
    fd = syscall(SYS_dup, 1);
    syscall(SYS_dup3, fd, 20, O_CLOEXEC);
    syscall(SYS_close, 20);
    syscall(SYS_close, fd);
    syscall(SYS_kill, 0, 0);
    syscall(SYS_pipe2, p, O_CLOEXEC);
    syscall(SYS_close, p[0]);
    syscall(SYS_close, p[1]);
    syscall(SYS_getcwd, buf, sizeof(buf));
    syscall(SYS_symlinkat, "data.txt", AT_FDCWD, "link");
    syscall(SYS_readlinkat, AT_FDCWD, "link", buf, sizeof(buf));
    syscall(SYS_renameat, AT_FDCWD, "link", AT_FDCWD, "link2");
    syscall(SYS_fchmodat, AT_FDCWD, "out.txt", 0600);
    syscall(SYS_newfstatat, AT_FDCWD, "out.txt", &st, 0);
    syscall(SYS_newfstatat, AT_FDCWD, "link2", &st, AT_SYMLINK_NOFOLLOW);
    syscall(SYS_newfstatat, AT_FDCWD, "/dev/null", &st, 0);
    syscall(SYS_unlinkat, AT_FDCWD, "link2", 0);
    syscall(SYS_uname, &u);
    struct timespec ts = {0, 1000};
    syscall(SYS_nanosleep, &ts, NULL);
    syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
    syscall(SYS_chdir, "/");
    syscall(SYS_chdir, "/nonexistent");
    fd = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    syscall(SYS_connect, fd, &sin, sizeof(sin));
    syscall(SYS_close, fd);
    fd = syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, "/nonexistent.sock");
    syscall(SYS_connect, fd, &sun, sizeof(sun));
    syscall(SYS_close, fd);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaddset(&sa.sa_mask, SIGTERM);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGINT, NULL, &sa);
    signal(SIGQUIT, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    fd = fcntl(1, F_DUPFD_CLOEXEC, 30);
    fcntl(fd, F_GETFD);
    fcntl(fd, F_SETFD, 0);
    fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    syscall(SYS_close, fd);
    char name[16];
    prctl(PR_SET_NAME, "corpus-x");
    prctl(PR_GET_NAME, name);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    struct winsize ws;
    fd = syscall(SYS_openat, AT_FDCWD, "data.txt", O_RDONLY);
    ioctl(fd, TIOCGWINSZ, &ws); /* ENOTTY */
    syscall(SYS_close, fd);
    pid_t child = fork();
    if (child == 0)
        _exit(3);
    int status;
    wait4(child, &status, 0, NULL);
    syscall(SYS_getpid + 1000, 1, 2, 3, 4, 5, 6); /* no such syscall: strace shows it raw */
    syscall(SYS_exit_group, 0);
    return 0;
}
