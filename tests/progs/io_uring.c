/* Attack surface probe: io_uring_setup must be refused under strict. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void)
{
    char params[120];
    memset(params, 0, sizeof(params));
    long r = syscall(SYS_io_uring_setup, 4, params);
    printf("io_uring_setup %ld %s\n", r, r < 0 ? strerror(errno) : "ok");
    return 0;
}
