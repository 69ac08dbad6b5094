/* The program's threads as the supervisor acts for them (view.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "view.h"

#define TOMB ((pid_t)-1)

int lx_views_init(struct lx_sup *s)
{
    if (s->views)
        return 0;
    struct lx_views *v = calloc(1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    int rc = lx_creds_read_own(&v->own);
    if (rc < 0) {
        free(v);
        return rc;
    }
    ssize_t n = readlink("/proc/self/ns/user", v->userns, sizeof(v->userns) - 1);
    if (n < 0)
        v->userns[0] = '\0'; /* no user namespaces here: every thread is in ours */
    else
        v->userns[n] = '\0';
    pthread_mutex_init(&v->lock, NULL);
    s->views = v;
    return 0;
}

static void root_put(struct lx_views *vs, struct lx_root *r)
{
    if (!r || --r->refs > 0)
        return;
    for (size_t i = 0; i < vs->nroots; i++)
        if (vs->roots[i] == r) {
            vs->roots[i] = vs->roots[--vs->nroots];
            break;
        }
    close(r->fd);
    free(r->path);
    free(r);
}

static void drop(struct lx_views *vs, struct lx_view *e)
{
    if (e->pidfd >= 0)
        close(e->pidfd);
    root_put(vs, e->root);
    lx_creds_free(&e->cr);
    memset(e, 0, sizeof(*e));
}

void lx_views_free(struct lx_sup *s)
{
    struct lx_views *vs = s->views;
    if (!vs)
        return;
    for (size_t i = 0; i < vs->cap; i++)
        if (vs->tab[i].tid > 0)
            drop(vs, &vs->tab[i]);
    free(vs->tab);
    free(vs->roots);
    free(vs->pending);
    lx_creds_free(&vs->own);
    pthread_mutex_destroy(&vs->lock);
    free(vs);
    s->views = NULL;
}

static size_t slot_of(pid_t tid, size_t cap)
{
    return ((uint32_t)tid * 2654435761u) & (cap - 1);
}

static struct lx_view *find(struct lx_views *vs, pid_t tid)
{
    if (!vs->cap)
        return NULL;
    for (size_t i = slot_of(tid, vs->cap), k = 0; k < vs->cap; i = (i + 1) & (vs->cap - 1), k++) {
        if (vs->tab[i].tid == tid)
            return &vs->tab[i];
        if (vs->tab[i].tid == 0)
            return NULL;
    }
    return NULL;
}

static void remove_tid(struct lx_views *vs, pid_t tid)
{
    struct lx_view *e = find(vs, tid);
    if (e) {
        drop(vs, e);
        e->tid = TOMB;
        vs->n--;
    }
}

static void clear_all(struct lx_views *vs)
{
    for (size_t i = 0; i < vs->cap; i++) {
        if (vs->tab[i].tid > 0)
            drop(vs, &vs->tab[i]);
        vs->tab[i].tid = 0;
    }
    vs->n = 0;
}

/* Room for one more: grows (and drops tombstones) past half full. */
static int reserve(struct lx_views *vs)
{
    size_t used = 0;
    for (size_t i = 0; i < vs->cap; i++)
        used += vs->tab[i].tid != 0;
    if (vs->cap && (used + 1) * 2 <= vs->cap)
        return 0;
    size_t cap = vs->cap ? vs->cap : 64;
    while ((vs->n + 1) * 2 > cap)
        cap *= 2;
    struct lx_view *t = calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < vs->cap; i++) {
        if (vs->tab[i].tid <= 0)
            continue;
        size_t j = slot_of(vs->tab[i].tid, cap);
        while (t[j].tid)
            j = (j + 1) & (cap - 1);
        t[j] = vs->tab[i];
    }
    free(vs->tab);
    vs->tab = t;
    vs->cap = cap;
    return 0;
}

static void drain(struct lx_views *vs)
{
    if (!__atomic_load_n(&vs->dirty, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&vs->lock);
    if (vs->forget_all) {
        clear_all(vs);
    } else {
        for (size_t i = 0; i < vs->npending; i++)
            remove_tid(vs, vs->pending[i]);
    }
    vs->npending = 0;
    vs->forget_all = 0;
    __atomic_store_n(&vs->dirty, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&vs->lock);
}

void lx_views_forget(struct lx_sup *s, pid_t tid)
{
    struct lx_views *vs = s->views;
    if (!vs)
        return;
    pthread_mutex_lock(&vs->lock);
    if (tid <= 0) {
        vs->forget_all = 1;
    } else if (!vs->forget_all) {
        if (vs->npending == vs->cappending) {
            size_t cap = vs->cappending ? vs->cappending * 2 : 64;
            pid_t *p = realloc(vs->pending, cap * sizeof(*p));
            if (p) {
                vs->pending = p;
                vs->cappending = cap;
            }
        }
        if (vs->npending < vs->cappending)
            vs->pending[vs->npending++] = tid;
        else
            vs->forget_all = 1; /* out of memory: forget more, never less */
    }
    __atomic_store_n(&vs->dirty, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&vs->lock);
}

/* The calls that may change what a view keeps (view.h). */
int lx_views_watched(int nr)
{
    switch (nr) {
    case SYS_setuid: case SYS_setgid: case SYS_setreuid: case SYS_setregid: case SYS_setresuid:
    case SYS_setresgid: case SYS_setfsuid: case SYS_setfsgid: case SYS_setgroups: case SYS_capset:
    case SYS_unshare: case SYS_setns: case SYS_chroot: case SYS_pivot_root:
    case SYS_execve: case SYS_execveat:
        return 1;
    default:
        return 0;
    }
}

void lx_views_note(struct lx_sup *s, int nr, pid_t tid)
{
    if (!s->views || !lx_views_watched(nr))
        return;
    lx_views_forget(s, (nr == SYS_execve || nr == SYS_execveat) ? 0 : tid);
}

/* The whole of a /proc file (NUL-terminated, malloc'd), or NULL with errno set. */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0) {
            int e = errno;
            free(b);
            b = NULL;
            errno = e;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                b = NULL;
                errno = ENOMEM;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    close(fd);
    if (b) {
        b[n] = '\0';
        if (len)
            *len = n;
    }
    return b;
}

/* The line "Key:\t..." of a status file: the text after the colon, or NULL. */
static const char *field(const char *st, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = st; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, k) && p[k] == ':')
            return p + k + 1;
    return NULL;
}

/* The idx-th number of a status line (base 10 or 16); -1 past its end. */
static int number(const char *line, int idx, int base, unsigned long long *out)
{
    const char *p = line;
    for (int i = 0; p; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\n' || *p == '\0')
            return -1;
        char *end;
        unsigned long long v = strtoull(p, &end, base);
        if (end == p)
            return -1;
        if (i == idx) {
            *out = v;
            return 0;
        }
        p = end;
    }
    return -1;
}

static int last_number(const char *line, unsigned long long *out)
{
    int found = -1;
    for (int i = 0; number(line, i, 10, out) == 0; i++)
        found = i;
    return found < 0 ? -1 : number(line, found, 10, out);
}

static int cmp_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

static int read_status(pid_t tid, struct lx_view *e, const char *our_userns)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
    char *st = slurp(path, NULL);
    if (!st)
        return errno == ENOENT ? -ESRCH : -errno;
    unsigned long long v[6], cap, prm, tgid, nstgid, nstid;
    const char *uid = field(st, "Uid"), *gid = field(st, "Gid"), *ce = field(st, "CapEff"), *cp = field(st, "CapPrm");
    int rc = 0;
    if (!uid || !gid || !ce || !cp || number(uid, 1, 10, &v[0]) || number(uid, 3, 10, &v[1]) ||
        number(gid, 1, 10, &v[2]) || number(gid, 3, 10, &v[3]) || number(uid, 0, 10, &v[4]) ||
        number(gid, 0, 10, &v[5]) || number(ce, 0, 16, &cap) || number(cp, 0, 16, &prm) || !field(st, "Tgid") ||
        number(field(st, "Tgid"), 0, 10, &tgid)) {
        rc = -EIO;
        goto out;
    }
    e->ruid = (uid_t)v[4];
    e->rgid = (gid_t)v[5];
    e->capprm = prm;
    e->cr.euid = (uid_t)v[0];
    e->cr.fsuid = (uid_t)v[1];
    e->cr.egid = (gid_t)v[2];
    e->cr.fsgid = (gid_t)v[3];
    e->cr.capeff = e->capeff_own = cap;
    e->tgid = (pid_t)tgid;
    /* its own pid namespace's ids: the last of NStgid/NSpid (Linux 4.1; before, ours) */
    const char *a = field(st, "NStgid"), *b = field(st, "NSpid");
    e->ns_tgid = a && last_number(a, &nstgid) == 0 ? (pid_t)nstgid : (pid_t)tgid;
    e->ns_tid = b && last_number(b, &nstid) == 0 ? (pid_t)nstid : tid;
    const char *g = field(st, "Groups");
    int n = 0;
    unsigned long long x;
    while (g && number(g, n, 10, &x) == 0)
        n++;
    e->cr.groups = calloc((size_t)n + 1, sizeof(gid_t));
    if (!e->cr.groups) {
        rc = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        number(g, i, 10, &x);
        e->cr.groups[i] = (gid_t)x;
    }
    e->cr.ngroups = n;
    qsort(e->cr.groups, (size_t)n, sizeof(gid_t), cmp_gid);
    if (our_userns[0]) {
        /* Capabilities count in the user namespace they were given in: a thread in
         * another one (unshare(CLONE_NEWUSER) gives it a full set there) has none
         * in ours, where the supervisor acts -- lending it ours would fail open. */
        char link[64], ns[64];
        snprintf(link, sizeof(link), "/proc/%d/ns/user", (int)tid);
        ssize_t k = readlink(link, ns, sizeof(ns) - 1);
        if (k < 0 || (ns[k] = '\0', strcmp(ns, our_userns) != 0))
            e->cr.capeff = e->capprm = 0;
    }
out:
    free(st);
    return rc;
}

static int read_root(struct lx_views *vs, pid_t tid, struct lx_view *e)
{
    char link[64], real[4096];
    snprintf(link, sizeof(link), "/proc/%d/root", (int)tid);
    int fd = open(link, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    ssize_t n = readlink(link, real, sizeof(real) - 1);
    struct stat st;
    if (n <= 0 || fstat(fd, &st) < 0) {
        int e2 = n == 0 ? EIO : errno;
        close(fd);
        return -e2;
    }
    real[n] = '\0';
    if (!strcmp(real, "/"))
        real[0] = '\0', n = 0;
    for (size_t i = 0; i < vs->nroots; i++) {
        struct lx_root *r = vs->roots[i];
        if (r->dev == st.st_dev && r->ino == st.st_ino && r->len == (size_t)n && !memcmp(r->path, real, (size_t)n)) {
            close(fd);
            r->refs++;
            e->root = r;
            return 0;
        }
    }
    struct lx_root *r = calloc(1, sizeof(*r));
    struct lx_root **rs = realloc(vs->roots, (vs->nroots + 1) * sizeof(*rs));
    if (rs)
        vs->roots = rs;
    if (!r || !rs || !(r->path = strdup(real))) {
        free(r);
        close(fd);
        return -ENOMEM;
    }
    r->fd = fd;
    r->len = (size_t)n;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    r->refs = 1;
    vs->roots[vs->nroots++] = r;
    e->root = r;
    return 0;
}

/* Is the /proc under this root the procfs the supervisor sees at /proc?  /proc/self
 * names a process by its id in the pid namespace its procfs was mounted for
 * (proc(5)): ours when the program shares our /proc, its own in a container's. */
static int our_proc(const struct lx_root *r)
{
    /* compared, never assumed from the root's path: /proc/PID/root of a process in
     * another mount namespace reads "/" (its path from that namespace's root) */
    struct stat mine, theirs;
    return stat("/proc", &mine) == 0 && fstatat(r->fd, "proc", &theirs, AT_SYMLINK_NOFOLLOW) == 0 &&
           mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino;
}

struct lx_view *lx_view_get(struct lx_sup *s, pid_t tid, int *err)
{
    struct lx_views *vs = s->views;
    if (!vs) {
        *err = -EINVAL;
        return NULL;
    }
    drain(vs);
    struct lx_view *e = find(vs, tid);
    if (e)
        return e;
    struct lx_view fresh;
    memset(&fresh, 0, sizeof(fresh));
    fresh.tid = tid;
    fresh.pidfd = -1;
    int rc = read_status(tid, &fresh, vs->userns);
    if (rc == 0)
        rc = read_root(vs, tid, &fresh);
    if (rc == 0 && our_proc(fresh.root)) {
        /* its /proc is ours: it shows the ids of our pid namespace */
        fresh.ns_tgid = fresh.tgid;
        fresh.ns_tid = tid;
    }
    if (rc == 0)
        rc = reserve(vs);
    if (rc < 0) {
        drop(vs, &fresh);
        *err = rc;
        return NULL;
    }
    size_t i = slot_of(tid, vs->cap);
    while (vs->tab[i].tid > 0)
        i = (i + 1) & (vs->cap - 1);
    vs->tab[i] = fresh;
    vs->n++;
    return &vs->tab[i];
}

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* pidfd_open(2), Linux 6.9: a pidfd of a thread, not only of a leader */
#endif

int lx_view_pidfd(struct lx_sup *s, struct lx_view *v, uint64_t id)
{
    if (v->pidfd >= 0)
        return v->pidfd;
    int fd = (int)syscall(SYS_pidfd_open, v->tid, PIDFD_THREAD);
    if (fd < 0 && errno == EINVAL) /* before Linux 6.9: the leader (threads share the fd table) */
        fd = (int)syscall(SYS_pidfd_open, v->tgid, 0);
    if (fd < 0)
        return -ESRCH;
    if (!lx_id_valid(s, id)) {
        close(fd); /* the tid named another task by the time we opened it */
        return -ESRCH;
    }
    v->pidfd = fd;
    return fd;
}

int lx_view_umask(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
    char *st = slurp(path, NULL);
    if (!st)
        return errno == ENOENT ? -ESRCH : -errno;
    unsigned long long m = 022;
    const char *u = field(st, "Umask"); /* Linux 4.7; before it, the usual default */
    if (u && number(u, 0, 8, &m) < 0)
        m = 022;
    free(st);
    return (int)(m & 0777);
}
