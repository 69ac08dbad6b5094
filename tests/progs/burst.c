/* Bursts of syscalls on demand, for tests and bench rows of live tracing: for each line
 * "N" read from stdin, makes N getppid() calls and prints "burst N switches S ns T", S
 * being how many times it was switched out meanwhile (/proc/self/status: a task stopped at
 * every syscall, traced, is switched out at least once a call, an untraced one about never)
 * and T the nanoseconds the N calls took. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long switches(void)
{
    char line[256];
    long total = 0, v;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
            sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
            total += v;
    fclose(f);
    return total;
}

int main(void)
{
    char line[64];
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    while (fgets(line, sizeof(line), stdin)) {
        long n = atol(line);
        long before = switches();
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < n; i++)
            syscall(SYS_getppid);
        clock_gettime(CLOCK_MONOTONIC, &b);
        long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
        printf("burst %ld switches %ld ns %lld\n", n, switches() - before, ns);
    }
    return 0;
}
