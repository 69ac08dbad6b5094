/* Attack: make an x32-ABI syscall (nr | 0x40000000) to slip past rules written
 * for x86_64 numbers.  Expected under lxbrand: killed by SIGSYS. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void)
{
    long r = syscall(SYS_getpid | 0x40000000);
    printf("x32 syscall returned %ld\n", r);
    return 0;
}
