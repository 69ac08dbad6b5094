/* getppid through the raw syscall, and getpid: for the syscall-remap test. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void)
{
    printf("getppid=%ld getpid=%ld\n", (long)syscall(SYS_getppid), (long)syscall(SYS_getpid));
    return 0;
}
