/* Attack: attach to the supervisor (our parent) and ask for a second tracer.
 * Prints the errno of each attempt. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <unistd.h>
int main(void)
{
    long r = ptrace(PTRACE_ATTACH, getppid(), 0, 0);
    printf("attach-parent %ld %s\n", r, r < 0 ? strerror(errno) : "ok");
    r = ptrace(PTRACE_TRACEME, 0, 0, 0);
    printf("traceme %ld %s\n", r, r < 0 ? strerror(errno) : "ok");
    return 0;
}
