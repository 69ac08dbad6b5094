/* Print what sysinfo(2) and sched_getaffinity(2) answer. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

int main(void)
{
    struct sysinfo si;
    if (sysinfo(&si) != 0) { perror("sysinfo"); return 1; }
    printf("uptime=%ld totalram=%llu freeram=%llu totalswap=%llu procs=%u load1=%lu\n", si.uptime,
           (unsigned long long)si.totalram * si.mem_unit, (unsigned long long)si.freeram * si.mem_unit,
           (unsigned long long)si.totalswap * si.mem_unit, si.procs, si.loads[0]);
    cpu_set_t set;
    CPU_ZERO(&set);
    long ret = syscall(SYS_sched_getaffinity, 0, sizeof(set), &set);
    printf("affinity_ret=%ld count=%d\n", ret, CPU_COUNT(&set));
    printf("nprocs=%d conf=%d\n", get_nprocs(), get_nprocs_conf());
    return 0;
}
