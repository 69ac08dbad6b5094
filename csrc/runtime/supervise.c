/* Start lxbrand-sup beside a container process (as supervisor.py's start_supervisor): it
 * seizes `pid` at once, loads the compiled policy from blob_fd, arms the process when it
 * writes to ready_r, and kills it if ctl_r closes before carrying 'c'. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

pid_t rt_start_supervisor(const char *backend, const char *id, pid_t pid, int blob_fd, int ready_r, int go_w,
                          int ctl_r)
{
    char sup[PATH_MAX + 32], spid[16], sblob[16], sready[16], sgo[16], sctl[16];
    const char *env = getenv("LXBRAND_SUP");
    if (env && *env)
        snprintf(sup, sizeof sup, "%s", env);
    else
        snprintf(sup, sizeof sup, "%s/lxbrand-sup", rt_self_dir());
    if (access(sup, X_OK) < 0) {
        rt_fail("the C supervisor %s is missing (lxbrand install puts it beside the runtime)", sup);
        return -1;
    }
    snprintf(spid, sizeof spid, "%d", (int)pid);
    snprintf(sblob, sizeof sblob, "%d", blob_fd);
    snprintf(sready, sizeof sready, "%d", ready_r);
    snprintf(sgo, sizeof sgo, "%d", go_w);
    snprintf(sctl, sizeof sctl, "%d", ctl_r);
    pid_t s = fork();
    if (s < 0) {
        rt_fail("starting the supervisor: fork: %s", strerror(errno));
        return -1;
    }
    if (s == 0) {
        int null = open("/dev/null", O_RDWR);
        for (int fd = 0; fd < 3 && null >= 0; fd++)
            dup2(null, fd);
        if (null > 2)
            close(null);
        setsid();
        int keep[] = {blob_fd, ready_r, go_w, ctl_r};
        for (int i = 0; i < 4; i++)
            fcntl(keep[i], F_SETFD, 0);
        const char *argv[] = {sup, "--id", id, "--pid", spid, "--backend", backend, "--blob", sblob,
                              "--ready", sready, "--go", sgo, "--ctl", sctl,
                              G.log ? "--log" : NULL, G.log, "--log-format", G.log_format, NULL};
        execv(sup, (char *const *)argv);
        _exit(1);
    }
    return s;
}

