/* image.c: the container's files read from outside (see there), and the console socket */
#ifndef LX_RT_IMAGE_H
#define LX_RT_IMAGE_H
#include <stddef.h>
#include <sys/types.h>

int rt_open_in_root(int rootfd, const char *path, int flags);
const char *rt_env_get(const char **env, const char *key);
/* args[0] as the container will see it: PATH from env; `present` (NULL-terminated, may be
 * NULL) lists paths a mount will provide.  0, or 1 after rt_fail worded as runc's (Docker
 * maps "executable file not found" to 127, "permission denied" to 126) */
int rt_lookup(int rootfd, const char *name, const char **env, const char *const *present, char *out, size_t cap);
char *rt_home_env(int rootfd, uid_t uid); /* "HOME=..." (malloc'd), "/" when not found */
int rt_connect_socket(const char *path);  /* the connected --console-socket, or -1 (errno) */
#endif
