#ifndef LX_RT_SECCOMP_OCI_H
#define LX_RT_SECCOMP_OCI_H
#include <stddef.h>
/* linux.seccomp (a json_t) to raw struct sock_filter bytes (malloc'd); 0 or RT_FALLBACK */
int rt_seccomp_compile(void *profile, void **out, size_t *len);
#endif
