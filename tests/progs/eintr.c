/* Signals without SA_RESTART against calls that never fail with EINTR natively.
 *
 *   eintr storm N     N rounds of kill(0-signal), close(dup()), getppid() and a
 *                     fork+wait while a second thread sends SIGUSR1 to this one
 *                     as fast as it can; prints how many calls failed with EINTR
 *                     (0 natively) and how many signals were handled.
 *   eintr pipe        a read of an empty pipe interrupted by SIGALRM (handler
 *                     without SA_RESTART): prints "read: EINTR", as natively.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile long handled;
static volatile int done;
static pthread_t main_thread;

static void on_sig(int sig) { (void)sig; handled++; }

static void *storm(void *arg)
{
    (void)arg;
    while (!done)
        pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sig; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    if (argc > 1 && strcmp(argv[1], "pipe") == 0) {
        int p[2];
        char c;
        if (pipe(p) < 0)
            return 2;
        alarm(1);
        ssize_t n = read(p[0], &c, 1);
        printf("read: %s\n", n < 0 && errno == EINTR ? "EINTR" : "something else");
        return 0;
    }
    long n = argc > 2 ? atol(argv[2]) : 1000, eintr = 0;
    main_thread = pthread_self();
    pthread_t t;
    pthread_create(&t, NULL, storm, NULL);
    for (long i = 0; i < n; i++) {
        if (kill(getpid(), 0) < 0 && errno == EINTR)
            eintr++;
        int fd = dup(1);
        if (fd < 0 && errno == EINTR)
            eintr++;
        if (fd >= 0 && close(fd) < 0 && errno == EINTR)
            eintr++;
        if (syscall(SYS_getppid) < 0 && errno == EINTR)
            eintr++;
        if (i % 50 == 0) {
            pid_t c = fork();
            if (c == 0)
                _exit(0);
            if (c < 0 && errno == EINTR)
                eintr++;
            while (c > 0 && waitpid(c, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    done = 1;
    pthread_join(t, NULL);
    printf("eintr=%ld handled=%s\n", eintr, handled > 0 ? "yes" : "no");
    return 0;
}
