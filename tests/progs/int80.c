/* Attack: an i386 syscall through int $0x80 (AUDIT_ARCH_I386), whose numbers
 * differ from x86_64's.  Expected under lxbrand: killed by SIGSYS. */
#include <stdio.h>
int main(void)
{
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory"); /* i386 getpid */
    printf("int80 returned %ld\n", r);
    return 0;
}
