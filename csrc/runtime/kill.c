/* kill ID NUMBER: signal init (containerd sends numbers; names and --all are Python's).
 * The kernel's rules for a pid namespace's init apply, as with runc. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>

#include "runtime.h"

int rt_kill(const char *id, const char *sigstr)
{
    struct rt_state f;
    char *end;
    long sig = strtol(sigstr, &end, 10);
    if (*end || sig <= 0 || sig >= 65)
        return RT_FALLBACK;
    if (rt_state_read(id, &f) != 0 || !rt_running(f.pid, f.start))
        return RT_FALLBACK; /* Python says "container not running" as runc does */
    if (kill((pid_t)f.pid, (int)sig) < 0)
        return RT_FALLBACK;
    return 0;
}
