/* Attacks on the ptrace fd hand-over (csrc/inject.c), from inside the program.
 *
 *   injrace scribble ALLOWED DENIED N
 *       The main thread opens ALLOWED and DENIED N times each with raw openat;
 *       while each call is in the kernel a second thread fills the memory just
 *       below the caller's red zone (where the supervisor's scratch lives) with
 *       garbage and with copies of DENIED.  Prints: "ok=<opens of ALLOWED that read its content>
 *       failed=<opens of ALLOWED that failed> wrong=<opens that read anything
 *       else> denied_open=<opens of DENIED that succeeded> alive".
 *   injrace signals ALLOWED N
 *       Opens ALLOWED N times while a thread queues realtime signals to the
 *       process (they queue: none may be lost while the opener's mask is
 *       changed and restored).  Prints "sent=<n> got=<n> bad=<failed opens>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile uintptr_t g_sp;
static volatile int g_in, g_stop;
static volatile unsigned g_seq, g_ack;

/* Fills the area alternately with random bytes and with copies of the denied
 * path (what a path rewritten into the caller's stack would be raced with). */
static void *scribbler(void *arg)
{
    const char *denied = arg;
    size_t dlen = strlen(denied) + 1;
    unsigned x = 12345, round = 0;
    while (!g_stop) {
        unsigned seq = g_seq;
        while (g_in && !g_stop) {
            volatile unsigned char *lo = (unsigned char *)(g_sp - 128 - 1024), *hi = (unsigned char *)(g_sp - 128);
            size_t i = 0;
            round++;
            for (volatile unsigned char *p = lo; p < hi && g_in; p++, i++) {
                x = x * 1103515245u + 12345u;
                *p = (round & 1) ? (unsigned char)denied[i % dlen] : (unsigned char)(x >> 16);
            }
        }
        g_ack = seq;
    }
    return NULL;
}

/* openat with the memory below the caller's red zone under attack meanwhile */
static long attacked_openat(const char *path)
{
    uintptr_t sp;
    long ret;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    g_sp = sp - 8; /* the rsp the kernel sees inside syscall() (its return address pushed) */
    g_seq++;
    g_in = 1;
    ret = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    g_in = 0;
    while (g_ack != g_seq)
        ;
    return ret;
}

static int scribble(const char *allowed, const char *denied, int n)
{
    char want[256] = {0}, got[256];
    int fd = open(allowed, O_RDONLY);
    if (fd < 0 || read(fd, want, sizeof(want) - 1) < 0)
        return 2;
    close(fd);
    pthread_t t;
    pthread_create(&t, NULL, scribbler, (void *)denied);
    int ok = 0, failed = 0, wrong = 0, denied_open = 0;
    for (int i = 0; i < n; i++) {
        long f = attacked_openat(allowed);
        if (f < 0) {
            failed++;
        } else {
            memset(got, 0, sizeof(got));
            ssize_t r = read((int)f, got, sizeof(got) - 1);
            if (r >= 0 && strcmp(got, want) == 0)
                ok++;
            else
                wrong++;
            close((int)f);
        }
        f = attacked_openat(denied);
        if (f >= 0) {
            denied_open++;
            close((int)f);
        }
    }
    g_stop = 1;
    pthread_join(t, NULL);
    printf("ok=%d failed=%d wrong=%d denied_open=%d alive\n", ok, failed, wrong, denied_open);
    return 0;
}

static volatile long g_got;
static void on_rt(int sig) { (void)sig; g_got++; }

static void *sigger(void *arg)
{
    long *sent = arg;
    union sigval v = {0};
    while (!g_stop) {
        if (sigqueue(getpid(), SIGRTMIN + 3, v) == 0)
            (*sent)++;
        usleep(20);
    }
    return NULL;
}

static int signals(const char *allowed, int n)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_rt;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGRTMIN + 3, &sa, NULL);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGRTMIN + 3);
    long sent = 0;
    pthread_t t;
    /* the signal goes to the main thread only: the opener's mask is what inject.c changes */
    pthread_sigmask(SIG_BLOCK, &m, NULL);
    pthread_create(&t, NULL, sigger, &sent);
    pthread_sigmask(SIG_UNBLOCK, &m, NULL);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int fd = open(allowed, O_RDONLY);
        if (fd < 0)
            bad++;
        else
            close(fd);
    }
    g_stop = 1;
    pthread_join(t, NULL);
    for (int i = 0; i < 1000 && g_got < sent; i++)
        usleep(1000);
    printf("sent=%ld got=%ld bad=%d\n", sent, g_got, bad);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "scribble") == 0)
        return scribble(argv[2], argv[3], atoi(argv[4]));
    if (argc == 4 && strcmp(argv[1], "signals") == 0)
        return signals(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: injrace scribble ALLOWED DENIED N | signals ALLOWED N\n");
    return 2;
}
