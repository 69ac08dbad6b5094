/* Capabilities: names to numbers (<linux/capability.h>: the numbers are ABI), and the
 * five sets of process.capabilities applied in the order capabilities(7) requires, as
 * lxbrand/oci/capabilities.py does: drop the bounding set while CAP_SETPCAP is still
 * effective, capset(2) effective/permitted/inheritable, then raise ambient (each must be
 * in permitted and inheritable).  Capabilities this process does not hold are left out
 * rather than failing (a host root without CAP_SYS_RESOURCE running --privileged). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "process.h"

static const char *const NAMES[] = {
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
};
#define NCAPS ((int)(sizeof(NAMES) / sizeof(NAMES[0])))

int rt_cap_number(const char *name)
{
    if (!strncasecmp(name, "CAP_", 4))
        name += 4;
    for (int i = 0; i < NCAPS; i++)
        if (!strcasecmp(NAMES[i], name))
            return i;
    return -1;
}

static int last_cap(void)
{
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    int n = NCAPS - 1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1)
            n = NCAPS - 1;
        fclose(f);
    }
    return n < 63 ? n : 63;
}

uint64_t rt_caps_permitted_now(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    uint64_t v = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "CapPrm:", 7)) {
            v = strtoull(line + 7, NULL, 16);
            break;
        }
    fclose(f);
    return v;
}

int rt_caps_drop_bounding(uint64_t keep)
{
    for (int i = 0, last = last_cap(); i <= last; i++)
        if (!(keep & (1ull << i)) && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
            return -errno;
    return 0;
}

int rt_capset(uint64_t eff, uint64_t prm, uint64_t inh)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(eff >> (32 * i));
        data[i].permitted = (uint32_t)(prm >> (32 * i));
        data[i].inheritable = (uint32_t)(inh >> (32 * i));
    }
    return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

int rt_caps_apply(const struct rt_process *p)
{
    uint64_t have = rt_caps_permitted_now();
    int rc = rt_capset(p->caps[RT_CAP_EFFECTIVE] & have, p->caps[RT_CAP_PERMITTED] & have,
                       p->caps[RT_CAP_INHERITABLE] & have);
    if (rc < 0)
        return rc;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        return -errno;
    for (int i = 0; i < 64; i++)
        if ((p->caps[RT_CAP_AMBIENT] & (1ull << i)) && (have & (1ull << i)) &&
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0)
            return -errno;
    return 0;
}
