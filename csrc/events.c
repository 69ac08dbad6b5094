/* Security events (events.h): their configuration, its blob section, the emitters. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "events.h"
#include "live.h"
#include "trace.h"

#define EV_MAX 8192 /* bytes of one event frame: its strings are cut to fit */

int lx_events_set(struct lx_sup *s, uint32_t flags)
{
    if (!s->events && !(s->events = calloc(1, sizeof(*s->events))))
        return -ENOMEM;
    s->events->flags = flags;
    return 0;
}

static int grow(char ***arr, uint32_t *n, uint32_t want)
{
    if (want <= *n)
        return 0;
    char **p = realloc(*arr, want * sizeof(char *));
    if (!p)
        return -ENOMEM;
    memset(p + *n, 0, (want - *n) * sizeof(char *));
    *arr = p;
    *n = want;
    return 0;
}

int lx_events_note(struct lx_sup *s, int family, int index, const char *text)
{
    if (!s->events && lx_events_set(s, 0) < 0)
        return -ENOMEM;
    struct lx_events *e = s->events;
    char **slot;
    if (family == 0) {
        slot = &e->dflt_note;
    } else if (family == LX_EVSRC_SYSCALL) {
        if (index < 0 || index >= LX_NR_MAX)
            return -EINVAL;
        slot = &e->sys_note[index];
    } else if (family == LX_EVSRC_PATH || family == LX_EVSRC_NET) {
        if (index < 0 || index > 1 << 20)
            return -EINVAL;
        char ***arr = family == LX_EVSRC_PATH ? &e->path_note : &e->net_note;
        uint32_t *n = family == LX_EVSRC_PATH ? &e->npath : &e->nnet;
        if (grow(arr, n, (uint32_t)index + 1) < 0)
            return -ENOMEM;
        slot = &(*arr)[index];
    } else {
        return -EINVAL;
    }
    char *t = text && *text ? strdup(text) : NULL;
    if (text && *text && !t)
        return -ENOMEM;
    free(*slot);
    *slot = t;
    return 0;
}

void lx_events_free(struct lx_sup *s)
{
    struct lx_events *e = s->events;
    if (!e)
        return;
    free(e->dflt_note);
    for (int i = 0; i < LX_NR_MAX; i++)
        free(e->sys_note[i]);
    for (uint32_t i = 0; i < e->npath; i++)
        free(e->path_note[i]);
    for (uint32_t i = 0; i < e->nnet; i++)
        free(e->net_note[i]);
    free(e->path_note);
    free(e->net_note);
    free(e);
    s->events = NULL;
}

/* -- LX_SEC_EVENTS: flags (u32), npath (u32), nnet (u32), then the default's, the
 * LX_NR_MAX syscalls', the path rules' and the network rules' comments, each a u32
 * length and its bytes (0: none). */

static int put_str(struct lx_buf *out, const char *t)
{
    uint32_t n = t ? (uint32_t)strlen(t) : 0;
    int rc = lx_buf_put(out, &n, sizeof(n));
    return rc || !n ? rc : lx_buf_put(out, t, n);
}

int lx_events_export(const struct lx_sup *s, struct lx_buf *out)
{
    const struct lx_events *e = s->events;
    if (!e)
        return 0;
    uint32_t head[3] = {e->flags, e->npath, e->nnet};
    int rc = lx_buf_put(out, head, sizeof(head));
    if (rc == 0)
        rc = put_str(out, e->dflt_note);
    for (int i = 0; rc == 0 && i < LX_NR_MAX; i++)
        rc = put_str(out, e->sys_note[i]);
    for (uint32_t i = 0; rc == 0 && i < e->npath; i++)
        rc = put_str(out, e->path_note[i]);
    for (uint32_t i = 0; rc == 0 && i < e->nnet; i++)
        rc = put_str(out, e->net_note[i]);
    return rc;
}

static int get_str(const uint8_t **p, const uint8_t *end, char **out)
{
    uint32_t n;
    if (end - *p < (ptrdiff_t)sizeof(n))
        return -EINVAL;
    memcpy(&n, *p, sizeof(n));
    *p += sizeof(n);
    if ((size_t)(end - *p) < n || memchr(*p, '\0', n))
        return -EINVAL;
    *out = NULL;
    if (n && !(*out = strndup((const char *)*p, n)))
        return -ENOMEM;
    *p += n;
    return 0;
}

int lx_events_import(struct lx_sup *s, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint32_t head[3];
    if (len < sizeof(head))
        return -EINVAL;
    memcpy(head, p, sizeof(head));
    p += sizeof(head);
    if (head[1] > 1 << 20 || head[2] > 1 << 20)
        return -EINVAL;
    int rc = lx_events_set(s, head[0]);
    struct lx_events *e = s->events;
    if (rc == 0)
        rc = get_str(&p, end, &e->dflt_note);
    for (int i = 0; rc == 0 && i < LX_NR_MAX; i++)
        rc = get_str(&p, end, &e->sys_note[i]);
    if (rc == 0)
        rc = grow(&e->path_note, &e->npath, head[1]);
    for (uint32_t i = 0; rc == 0 && i < head[1]; i++)
        rc = get_str(&p, end, &e->path_note[i]);
    if (rc == 0)
        rc = grow(&e->net_note, &e->nnet, head[2]);
    for (uint32_t i = 0; rc == 0 && i < head[2]; i++)
        rc = get_str(&p, end, &e->net_note[i]);
    if (rc == 0 && p != end)
        rc = -EINVAL;
    if (rc < 0)
        lx_events_free(s);
    return rc;
}

/* -- emitting ------------------------------------------------------------------------ */

int lx_events_wanted(const struct lx_sup *s)
{
    return lx_live_events(s) || (s->live && s->events && s->events->flags);
}

struct evb {
    uint8_t buf[EV_MAX];
    size_t len;
};

static struct lx_event *ev_begin(struct evb *b, int kind, pid_t pid, pid_t tid, int nr, int err, int source,
                                 int rule)
{
    struct lx_event *e = (struct lx_event *)b->buf;
    memset(e, 0, sizeof(*e));
    e->type = LX_FRAME_EVENT;
    e->kind = (uint16_t)kind;
    e->pid = pid;
    e->tid = tid;
    e->nr = nr;
    e->err = err;
    e->rule = rule;
    e->source = (uint16_t)source;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e->t_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    b->len = sizeof(*e);
    return e;
}

static void ev_str(struct evb *b, const void *data, size_t n)
{
    if (b->len + 4 > EV_MAX)
        return;
    if (n > EV_MAX - b->len - 4)
        n = EV_MAX - b->len - 4; /* cut to fit */
    uint32_t l = (uint32_t)n;
    memcpy(b->buf + b->len, &l, 4);
    memcpy(b->buf + b->len + 4, data, n);
    b->len += 4 + n;
    ((struct lx_event *)b->buf)->nstr++;
}

static void ev_send(struct lx_sup *s, struct evb *b)
{
    size_t padded = (b->len + 7) & ~(size_t)7;
    if (padded > EV_MAX) { /* cannot be: strings are cut */
        return;
    }
    memset(b->buf + b->len, 0, padded - b->len);
    ((struct lx_event *)b->buf)->size = (uint32_t)padded;
    lx_live_put(s, b->buf, padded);
}

static const char *note(const struct lx_sup *s, int source, int rule, int nr)
{
    const struct lx_events *e = s->events;
    if (!e)
        return NULL;
    if (source == LX_EVSRC_SYSCALL)
        return nr >= 0 && nr < LX_NR_MAX && e->sys_note[nr] ? e->sys_note[nr] : e->dflt_note;
    if (rule <= 0)
        return NULL;
    if (source == LX_EVSRC_PATH && (uint32_t)rule <= e->npath)
        return e->path_note[rule - 1];
    if (source == LX_EVSRC_NET && (uint32_t)rule <= e->nnet)
        return e->net_note[rule - 1];
    return NULL;
}

static pid_t tgid_of(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *t = strstr(buf, "\nTgid:");
    return t ? (pid_t)atoi(t + 6) : 0;
}

void lx_event_exec(struct lx_sup *s, pid_t tid)
{
    if (!lx_events_wanted(s))
        return;
    static __thread struct evb b;
    char link[64], exe[4096], root[4096];
    ev_begin(&b, LX_EV_EXEC, tid, tid, SYS_execve, 0, LX_EVSRC_NONE, -1); /* after exec: tid is the leader */
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)tid);
    ssize_t n = readlink(link, exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(link, sizeof(link), "/proc/%d/root", (int)tid);
    ssize_t r = readlink(link, root, sizeof(root) - 1);
    root[r > 0 ? r : 0] = '\0';
    const char *guest = exe; /* as the program sees it: inside its root */
    if (r > 1 && !strncmp(exe, root, (size_t)r) && exe[r] == '/')
        guest = exe + r;
    ev_str(&b, guest, strlen(guest));
    char args[4096];
    snprintf(link, sizeof(link), "/proc/%d/cmdline", (int)tid);
    int fd = open(link, O_RDONLY | O_CLOEXEC);
    ssize_t m = fd >= 0 ? read(fd, args, sizeof(args)) : -1;
    if (fd >= 0)
        close(fd);
    ev_str(&b, args, m > 0 ? (size_t)m : 0);
    ev_send(s, &b);
}

void lx_event_addr(struct lx_sup *s, int kind, pid_t tid, int nr, const char *addr, int err, int source, int rule)
{
    if (!lx_events_wanted(s))
        return;
    static __thread struct evb b;
    ev_begin(&b, kind, tgid_of(tid), tid, nr, err, source, rule);
    ev_str(&b, addr, strlen(addr));
    const char *c = note(s, source, rule, nr);
    ev_str(&b, c ? c : "", c ? strlen(c) : 0);
    ev_send(s, &b);
}

void lx_event_denied(struct lx_sup *s, pid_t tid, int nr, int err, int source, int rule, const char *op,
                     const char *what)
{
    if (!lx_events_wanted(s))
        return;
    static __thread struct evb b;
    ev_begin(&b, LX_EV_DENIED, tgid_of(tid), tid, nr, err, source, rule);
    const char *c = note(s, source, rule, nr);
    ev_str(&b, c ? c : "", c ? strlen(c) : 0);
    ev_str(&b, op ? op : "", op ? strlen(op) : 0);
    ev_str(&b, what ? what : "", what ? strlen(what) : 0);
    ev_send(s, &b);
}

/* The address a socket call names, as events show it: inet:A.B.C.D:PORT,
 * inet6:[ADDR]:PORT, unix:/path, unix:@abstract (bytes as they are), family:N. */
void lx_addr_text(const uint8_t *raw, size_t len, char *out, size_t cap)
{
    uint16_t fam = 0;
    if (len >= 2)
        memcpy(&fam, raw, 2);
    char ip[INET6_ADDRSTRLEN] = "";
    if (fam == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const void *)raw;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "inet:%s:%u", ip, ntohs(a->sin_port));
    } else if (fam == AF_INET6 && len >= 24) {
        const struct sockaddr_in6 *a = (const void *)raw;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "inet6:[%s]:%u", ip, ntohs(a->sin6_port));
    } else if (fam == AF_UNIX && len > 2 && raw[2] == 0) {
        snprintf(out, cap, "unix:@%.*s", (int)(len - 3), (const char *)raw + 3);
    } else if (fam == AF_UNIX && len > 2) {
        snprintf(out, cap, "unix:%.*s", (int)strnlen((const char *)raw + 2, len - 2), (const char *)raw + 2);
    } else if (fam == AF_UNIX) {
        snprintf(out, cap, "unix:");
    } else {
        snprintf(out, cap, "family:%u", fam);
    }
}

void lx_event_observe(struct lx_sup *s, const struct lx_call *c)
{
    if (!s->events || !(s->events->flags & LX_EVS_NET) || !lx_events_wanted(s))
        return;
    if (c->nr != SYS_connect && c->nr != SYS_bind)
        return;
    if (s->net && lx_action_for(s, c->nr)->kind == LX_ACT_NET)
        return; /* the rules decide it, and say so */
    uint8_t raw[128];
    size_t len = (size_t)(c->args[2] & 0xffffffff);
    if (len > sizeof(raw))
        len = sizeof(raw);
    ssize_t n = c->args[1] ? lx_mem_read(c->pid, c->args[1], raw, len) : -EFAULT;
    char text[300];
    if (n < 2)
        snprintf(text, sizeof(text), "unreadable");
    else
        lx_addr_text(raw, (size_t)n, text, sizeof(text));
    lx_event_addr(s, c->nr == SYS_connect ? LX_EV_CONNECT : LX_EV_BIND, c->tid, c->nr, text, 0, LX_EVSRC_NONE, -1);
}
