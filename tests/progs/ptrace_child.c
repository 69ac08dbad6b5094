/* A program that traces its own child, as debuggers and sandboxes inside a sandbox do:
 * the child asks for it (PTRACE_TRACEME) and stops; the parent follows it through its
 * execve and its exit with PTRACE_O_TRACEEXEC, then a second child is seized
 * (PTRACE_SEIZE) and interrupted.  Prints what the parent saw. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    pid_t c = fork();
    if (c == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0) {
            printf("traceme %s\n", strerror(errno));
            _exit(2);
        }
        raise(SIGSTOP);
        execl("/bin/true", "true", (char *)NULL);
        _exit(3);
    }
    int st;
    waitpid(c, &st, 0);
    printf("stopped %d\n", WIFSTOPPED(st) ? WSTOPSIG(st) : -1);
    long r = ptrace(PTRACE_SETOPTIONS, c, 0, (void *)(long)PTRACE_O_TRACEEXEC);
    printf("setoptions %ld\n", r);
    ptrace(PTRACE_CONT, c, 0, 0);
    waitpid(c, &st, 0);
    printf("exec event %d\n", WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_EXEC);
    ptrace(PTRACE_CONT, c, 0, 0);
    waitpid(c, &st, 0);
    printf("exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    int p[2];
    if (pipe(p) < 0)
        return 1;
    pid_t d = fork();
    if (d == 0) {
        char b;
        close(p[1]);
        while (read(p[0], &b, 1) > 0) {
        }
        _exit(7);
    }
    close(p[0]);
    printf("seize %ld\n", ptrace(PTRACE_SEIZE, d, 0, 0));
    ptrace(PTRACE_INTERRUPT, d, 0, 0);
    waitpid(d, &st, 0);
    printf("interrupted %d\n", WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_STOP);
    printf("detach %ld\n", ptrace(PTRACE_DETACH, d, 0, 0));
    close(p[1]);
    waitpid(d, &st, 0);
    printf("second exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
