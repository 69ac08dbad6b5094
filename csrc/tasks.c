/* The end of the program's tree: no hang is silent.
 *
 * lxrun waits for every task of the tree (as strace -f does: a supervisor
 * never leaves tasks it supervises behind), so a tree whose last tasks are
 * blocked for ever -- an orphaned pool worker in a futex wait, a daemon the
 * program forgot -- looked like a program at work, and Ctrl-C or SIGTERM to
 * lxrun only reached the program's first process, long gone.  Now:
 *   - a terminating signal to lxrun (SIGINT, SIGTERM, SIGHUP, SIGQUIT, from the
 *     terminal or a process) still reaches the program first (signals.c); once
 *     the first process has ended -- at once if it already had -- every task
 *     left is listed with what it is blocked in and killed.  The request stays
 *     until then: a program that catches the signal and exits later does not
 *     leave its background tasks behind to be waited for.  A second terminating
 *     signal sent by a process while the first process lives on (it ignored or
 *     caught the first) kills every task at once, the first process too: then
 *     lxrun dies by SIGKILL, as its program did (as `docker stop` ends with
 *     SIGKILL what SIGTERM did not end).  Ctrl-C from the terminal never
 *     escalates: a program may take it as input any number of times;
 *   - with --wait first, what the first process leaves behind is killed when it
 *     ends, silently: a container's rule (runc and Docker kill the rest of the
 *     container when its init exits; the kernel does, for a pid namespace);
 *   - SIGRTMIN+7 to lxrun lists every task and what it is blocked in, and
 *     changes nothing.
 * What a task is blocked in comes from /proc (proc(5)): its state and parent
 * (/proc/TID/stat), the syscall it is in (/proc/TID/syscall, which its tracer
 * may read) and where the kernel sleeps (/proc/TID/wchan).  Tasks handed over
 * to the program's debugger (debuggee.c) are listed and killed too.  Everything here
 * runs on the lifecycle loop's thread, between two waits, so the task table
 * does not change under it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "tids.h"

static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return n;
}

static const char *state_name(char st)
{
    switch (st) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "in uninterruptible sleep";
    case 'T': return "stopped";
    case 't': return "in a ptrace stop";
    case 'Z': return "a zombie";
    case 'X': return "dead";
    case 'I': return "idle";
    default: return "in an unknown state";
    }
}

/* One line about tid to fd: "  TID (COMM, parent PPID): STATE, in SYSCALL (WCHAN)NOTE" */
static void report_one(int fd, pid_t tid, const char *note)
{
    char path[64], stat[512], sc[256], wchan[128], what[320] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
    if (read_small(path, stat, sizeof(stat)) <= 0) {
        dprintf(fd, "  %d: gone%s\n", (int)tid, note);
        return;
    }
    /* pid (comm) state ppid ...: comm may hold spaces and parentheses, so the last ')' ends it */
    char *lp = strchr(stat, '('), *rp = strrchr(stat, ')');
    char comm[64] = "?", st = '?';
    int ppid = 0;
    if (lp && rp && rp > lp) {
        snprintf(comm, sizeof(comm), "%.*s", (int)(rp - lp - 1), lp + 1);
        /* the program names itself (prctl PR_SET_NAME): no control bytes reach the
         * user's terminal (an escape sequence could rewrite it), as ps shows them */
        for (char *q = comm; *q; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
                *q = '?';
        if (sscanf(rp + 1, " %c %d", &st, &ppid) != 2)
            st = '?';
    }
    snprintf(path, sizeof(path), "/proc/%d/syscall", (int)tid);
    if (read_small(path, sc, sizeof(sc)) > 0) {
        long nr;
        if (strcmp(sc, "running") == 0) {
            snprintf(what, sizeof(what), ", on a CPU");
        } else if (sscanf(sc, "%ld", &nr) == 1 && nr >= 0) {
            char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, (int)nr);
            if (name)
                snprintf(what, sizeof(what), ", in %s", name);
            else
                snprintf(what, sizeof(what), ", in syscall %ld", nr);
            free(name);
        }
    }
    snprintf(path, sizeof(path), "/proc/%d/wchan", (int)tid);
    if (read_small(path, wchan, sizeof(wchan)) > 0 && strcmp(wchan, "0") != 0) {
        size_t l = strlen(what);
        if (strcmp(wchan, "seccomp_do_user_notification") == 0)
            snprintf(what + l, sizeof(what) - l, " (waiting for the supervisor's answer)");
        else
            snprintf(what + l, sizeof(what) - l, " (%s)", wchan);
    }
    dprintf(fd, "  %d (%s, parent %d): %s%s%s\n", (int)tid, comm, ppid, state_name(st), what, note);
}

struct collect {
    pid_t *v;
    size_t n, cap;
};

static void collect_one(struct lx_tstate *t, void *arg)
{
    struct collect *c = arg;
    if (c->n < c->cap)
        c->v[c->n++] = t->tid;
}

static void report_unsorted(struct lx_tstate *t, void *arg) { report_one(*(int *)arg, t->tid, ""); }

/* a task handed over to the program's debugger (debuggee.c): not in our table */
static void count_handed(pid_t tid, pid_t debugger, int pidfd, void *arg)
{
    (void)tid, (void)debugger, (void)pidfd;
    ++*(size_t *)arg;
}

static void report_handed(pid_t tid, pid_t debugger, int pidfd, void *arg)
{
    (void)pidfd;
    char note[64];
    snprintf(note, sizeof(note), "; traced by its debugger %d", (int)debugger);
    report_one(*(int *)arg, tid, note);
}

static void kill_handed(pid_t tid, pid_t debugger, int pidfd, void *arg)
{
    (void)tid, (void)debugger, (void)arg;
    /* its pidfd names it whatever its number names by now (pidfd_send_signal(2)) */
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

void lx_tasks_report(struct lx_sup *s, int fd, const char *why)
{
    size_t n = s->tids ? lx_tids_count(s->tids) : 0, handed = 0;
    lx_debug_each_handed(s, count_handed, &handed);
    dprintf(fd, "lxrun: %s: %zu task%s\n", why, n + handed, n + handed == 1 ? "" : "s");
    struct collect c = {.v = n ? malloc(n * sizeof(pid_t)) : NULL, .cap = n};
    if (n && !c.v) { /* out of memory: unsorted, then */
        lx_tids_each(s->tids, report_unsorted, &fd);
    } else if (n) {
        lx_tids_each(s->tids, collect_one, &c);
        qsort(c.v, c.n, sizeof(pid_t), cmp_pid);
        for (size_t i = 0; i < c.n; i++)
            report_one(fd, c.v[i], "");
        free(c.v);
    }
    lx_debug_each_handed(s, report_handed, &fd);
}

static void kill_one(struct lx_tstate *t, void *arg)
{
    (void)arg;
    /* a tid names its thread group for kill(2); a tracee's number is not reused
     * before its tracer has reaped it, which only this thread does */
    kill(t->tid, SIGKILL);
}

void lx_tasks_kill_all(struct lx_sup *s)
{
    s->killing = 1; /* and every task seen or taken back from now on (a fork under way): ptrace.c */
    if (s->tids)
        lx_tids_each(s->tids, kill_one, NULL);
    /* a debugger's tracees die with it (EXITKILL is forced on them), but not
     * before it has its first options set: kill them now */
    lx_debug_each_handed(s, kill_handed, NULL);
}

/* The rest of the tree is not waited for: --wait first, or lxrun was asked to end. */
static void end_rest(struct lx_sup *s)
{
    size_t handed = 0;
    lx_debug_each_handed(s, count_handed, &handed);
    if (s->killing || ((!s->tids || lx_tids_count(s->tids) == 0) && !handed))
        return;
    if (lx_signals_take(LX_REQ_END))
        lx_tasks_report(s, STDERR_FILENO, "killing what the program's first process left running");
    lx_tasks_kill_all(s);
}

void lx_tasks_first_gone(struct lx_sup *s)
{
    if (s->wait_first || (lx_signals_requests() & LX_REQ_END))
        end_rest(s);
}

void lx_tasks_requests(struct lx_sup *s)
{
    if (lx_signals_take(LX_REQ_REPORT))
        lx_tasks_report(s, STDERR_FILENO, "the program's tasks");
    if (lx_signals_take(LX_REQ_NOW) && !s->killing) {
        lx_signals_take(LX_REQ_END);
        lx_tasks_report(s, STDERR_FILENO, "sent a terminating signal again: killing every task of the program");
        lx_tasks_kill_all(s);
    }
    if ((lx_signals_requests() & LX_REQ_END) && s->main_status_valid)
        end_rest(s);
}
