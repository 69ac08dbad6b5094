/* delete [--force] ID: kill init if asked, then the supervisor if it outlived init,
 * remove the cgroups and the state directory.  Hooks, sub-cgroups, a frozen container
 * and errors worth a precise message are Python's. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void kill_procs(const char *cg)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/cgroup.procs", cg);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return;
    long pid;
    while (fscanf(fp, "%ld", &pid) == 1)
        kill((pid_t)pid, SIGKILL);
    fclose(fp);
}

int rt_delete(const char *id, int force)
{
    struct rt_state f;
    char fifo[PATH_MAX + 16], dir[PATH_MAX];
    int r = rt_state_read(id, &f);
    snprintf(dir, sizeof dir, "%s/%s", G.root, id);
    if (r == -ENOENT && !exists(dir)) {
        if (force)
            return 0;
        return rt_fail("container '%s' does not exist (in %s)", id, G.root);
    }
    if (r != 0 || f.python || rt_frozen(&f))
        return RT_FALLBACK;
    snprintf(fifo, sizeof fifo, "%s/exec.fifo", f.dir);
    if (rt_running(f.pid, f.start)) {
        if (!force && !exists(fifo))
            return RT_FALLBACK; /* running: Python refuses with the status */
        kill((pid_t)f.pid, SIGKILL);
        for (int i = 0; rt_running(f.pid, f.start); i++) {
            if (i > 10000)
                return RT_FALLBACK;
            usleep(1000);
        }
    }
    /* Init is gone, and with a pid namespace of its own every process with it; without one
     * (--pid=host) the rest lives on: kill it through the cgroups, as runc does.  Then the
     * supervisor exits by itself once it has finished its work (a trace file is closed with
     * its summary): give it a moment (commands/delete.py's SUPERVISOR_GRACE), and kill it
     * only if it does not go -- its remaining tracees die with it. */
    for (int i = 0; i < f.ncg; i++)
        kill_procs(f.cg[i]);
    for (int i = 0; rt_running(f.sup_pid, f.sup_start) && i < 5000; i++)
        usleep(1000);
    if (rt_running(f.sup_pid, f.sup_start))
        kill((pid_t)f.sup_pid, SIGKILL);
    /* cgroups: kill what is left, then rmdir (EBUSY until the last task is gone) */
    for (int i = f.ncg - 1; i >= 0; i--) {
        for (int tries = 0;; tries++) {
            if (rmdir(f.cg[i]) == 0 || errno == ENOENT)
                break;
            if ((errno != EBUSY && errno != ENOTEMPTY) || tries > 5000)
                return RT_FALLBACK; /* e.g. sub-cgroups: Python walks them */
            kill_procs(f.cg[i]);
            usleep(1000);
        }
    }
    DIR *d = opendir(f.dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    if (rmdir(f.dir) < 0 && errno != ENOENT)
        return RT_FALLBACK;
    return 0;
}
