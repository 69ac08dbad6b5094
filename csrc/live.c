/* Live tracing and events (live.h): the control socket, its thread, the ring of
 * frames, and the tracer thread's side (syscall stops while a trace client is
 * attached). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "live.h"
#include "tids.h"

#define LX_LIVE_CLIENTS 16
#define LX_LIVE_BATCH (64u << 10)     /* bytes a client gets in one message */
#define LX_PAD_SEQ 0xffffffffu
#define PAD8(n) (((n) + 7u) & ~(size_t)7u)

/* a ring entry: this header, then the frame (padded to 8) */
struct entry {
    uint32_t len;  /* the whole entry */
    uint32_t seq;  /* per class (records, events); LX_PAD_SEQ: padding to the ring's end */
};

enum { CLASS_CALL = 0, CLASS_EVENT = 1, NCLASS };

struct client {
    int fd;
    int attached;               /* its request was taken and answered */
    int refuse_err;             /* refused at accept: answered so once its request is read (closing
                                 * with it unread would reset the connection before the answer) */
    char refuse_why[128];
    uint32_t what;              /* LX_LIVE_TRACE | LX_LIVE_EVENTS */
    uint8_t set[LX_NR_MAX / 8];
    struct lx_capplan *plan;    /* its request's plans (merged into the tracer's) */
    unsigned strsize;
    uint64_t cursor;            /* ring offset of the next entry it reads */
    uint32_t next_seq[NCLASS];
    int seen[NCLASS];
    uint64_t dropped, reported;
    uint8_t *out;               /* a batch its socket has not taken yet */
    size_t outlen;
};

struct lx_live {
    struct lx_sup *s;
    int lfd, efd;
    pthread_t th;
    int started;
    volatile int stop;
    pthread_mutex_t lock;       /* the ring, the clients, what is asked of the tracer */
    pthread_cond_t cv;
    uint8_t *ring;
    uint64_t head, tail;        /* entries live in [tail, head) of the ring's byte space */
    uint32_t seq[NCLASS];
    int nclients;               /* clients that want frames (attached) */
    int nevents;                /* ... of which events clients */
    int wake_armed;
    struct client clients[LX_LIVE_CLIENTS];
    /* asked of the tracer thread (under lock), and done by it */
    uint64_t req_gen, done_gen;
    int want_stops, want_execs;
    uint8_t want_set[LX_NR_MAX / 8];
    struct lx_capplan want_plan[LX_NR_MAX];
    unsigned want_strsize;
    /* the tracer thread's own copy */
    uint64_t seen_gen;
    uint8_t set[LX_NR_MAX / 8];
    struct lx_capplan plan[LX_NR_MAX];
    unsigned strsize;
};

/* -- the ring ------------------------------------------------------------------- */

static int frame_class(const void *frame)
{
    uint16_t type;
    memcpy(&type, (const uint8_t *)frame + 4, sizeof(type));
    return type == LX_FRAME_EVENT ? CLASS_EVENT : CLASS_CALL;
}

/* Drop the oldest entries until n more bytes fit.  Under lock. */
static void make_room(struct lx_live *L, size_t n)
{
    while (L->head + n - L->tail > LX_LIVE_RING) {
        struct entry *e = (struct entry *)(L->ring + L->tail % LX_LIVE_RING);
        L->tail += e->len;
    }
}

void lx_live_put(struct lx_sup *s, const void *frame, size_t len)
{
    struct lx_live *L = s->live;
    /* nothing is kept while nobody reads, except a sandbox's own events (started with
     * them: a client that comes later sees the recent ones) */
    if (!L || !L->ring ||
        (!__atomic_load_n(&L->nclients, __ATOMIC_RELAXED) && !(s->events && s->events->flags)))
        return;
    size_t need = sizeof(struct entry) + PAD8(len);
    if (need > LX_LIVE_RING / 4)
        return; /* never: records are at most tens of KiB */
    pthread_mutex_lock(&L->lock);
    size_t pos = L->head % LX_LIVE_RING;
    if (pos + need > LX_LIVE_RING) { /* an entry never wraps: pad to the end */
        size_t pad = LX_LIVE_RING - pos;
        make_room(L, pad);
        struct entry *e = (struct entry *)(L->ring + pos);
        e->len = (uint32_t)pad;
        e->seq = LX_PAD_SEQ;
        L->head += pad;
        pos = 0;
    }
    make_room(L, need);
    struct entry *e = (struct entry *)(L->ring + pos);
    int cls = frame_class(frame);
    e->len = (uint32_t)need;
    e->seq = L->seq[cls]++;
    memcpy(e + 1, frame, len);
    memset((uint8_t *)(e + 1) + len, 0, PAD8(len) - len);
    L->head += need;
    pthread_mutex_unlock(&L->lock);
    if (__atomic_exchange_n(&L->wake_armed, 0, __ATOMIC_SEQ_CST)) {
        uint64_t one = 1;
        ssize_t w = write(L->efd, &one, sizeof(one));
        (void)w;
    }
}

static int in_set(const uint8_t *set, int nr)
{
    return nr >= 0 && nr < LX_NR_MAX && (set[nr / 8] >> (nr % 8)) & 1;
}

static int wants(const struct client *c, const uint8_t *frame)
{
    uint16_t type;
    memcpy(&type, frame + 4, sizeof(type));
    if (type == LX_FRAME_EVENT)
        return c->what & LX_LIVE_EVENTS;
    if (type == LX_FRAME_CALL && (c->what & LX_LIVE_TRACE)) {
        const struct lx_rec *r = (const struct lx_rec *)frame;
        return in_set(c->set, r->nr);
    }
    return 0;
}

static void put_frame(uint8_t *out, size_t *outlen, const void *frame, size_t len)
{
    memcpy(out + *outlen, frame, len);
    *outlen += len;
}

/* The next batch of client c: what it missed, then the frames it wants, up to
 * LX_LIVE_BATCH bytes.  Under lock.  0: nothing to send. */
static size_t fill(struct lx_live *L, struct client *c)
{
    size_t n = 0;
    if (c->cursor < L->tail)
        c->cursor = L->tail; /* overtaken: what it did not read is gone (counted below) */
    uint8_t *out = c->out;
    size_t mark = 0;
    if (c->dropped > c->reported)
        n = mark = sizeof(struct lx_live_dropped); /* filled in at the end */
    while (c->cursor < L->head) {
        struct entry *e = (struct entry *)(L->ring + c->cursor % LX_LIVE_RING);
        if (e->seq != LX_PAD_SEQ) {
            const uint8_t *frame = (const uint8_t *)(e + 1);
            uint32_t flen;
            memcpy(&flen, frame, sizeof(flen));
            int cls = frame_class(frame);
            if (c->seen[cls] && e->seq != c->next_seq[cls])
                c->dropped += (uint32_t)(e->seq - c->next_seq[cls]);
            if (wants(c, frame)) {
                if (flen > LX_LIVE_BATCH) {
                    c->dropped++; /* never sent whole: counted as missed */
                } else if (n + flen > LX_LIVE_BATCH) {
                    break;
                } else {
                    put_frame(out, &n, frame, flen);
                }
            }
            c->seen[cls] = 1;
            c->next_seq[cls] = e->seq + 1;
        }
        c->cursor += e->len;
    }
    if (c->dropped > c->reported) {
        if (!mark) { /* found while reading: put the count first */
            memmove(out + sizeof(struct lx_live_dropped), out, n);
            n += sizeof(struct lx_live_dropped);
        }
        struct lx_live_dropped d = {.size = sizeof(d), .type = LX_FRAME_DROPPED, .frames = c->dropped};
        memcpy(out, &d, sizeof(d));
        c->reported = c->dropped;
    } else if (mark) {
        memmove(out, out + mark, n - mark);
        n -= mark;
    }
    return n;
}

/* -- clients -------------------------------------------------------------------- */

static void send_hello(struct lx_live *L, int fd, int err, const char *why)
{
    struct lx_live_hello h;
    memset(&h, 0, sizeof(h));
    h.size = sizeof(h);
    h.type = LX_FRAME_HELLO;
    h.backend = (uint16_t)L->s->backend;
    h.err = err;
    h.child = L->s->child;
    h.sup = getpid();
    h.version = LX_LIVE_VERSION;
    if (why)
        snprintf(h.why, sizeof(h.why), "%s", why);
    ssize_t w = send(fd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
}

static void refuse(struct lx_live *L, int fd, int err, const char *why)
{
    send_hello(L, fd, err, why);
    close(fd);
}

/* Is pid traced?  A process in a sandbox always is (by its supervisor). */
static int traced(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 1; /* cannot tell: refuse */
    int t = 1;
    while (fgets(buf, sizeof(buf), f))
        if (sscanf(buf, "TracerPid: %d", &t) == 1)
            break;
    fclose(f);
    return t != 0;
}

static void drop_client(struct lx_live *L, struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    if (c->attached)
        __atomic_sub_fetch(&L->nclients, 1, __ATOMIC_SEQ_CST);
    if (c->attached && (c->what & LX_LIVE_EVENTS))
        __atomic_sub_fetch(&L->nevents, 1, __ATOMIC_SEQ_CST);
    free(c->out);
    free(c->plan);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

/* What the tracer must do for the clients now attached: syscall stops while any
 * wants a trace, for the union of their sets.  Under lock. */
static void recompute(struct lx_live *L)
{
    L->want_stops = 0;
    L->want_execs = __atomic_load_n(&L->nevents, __ATOMIC_SEQ_CST) > 0;
    memset(L->want_set, 0, sizeof(L->want_set));
    L->want_strsize = LX_CAP_STRSIZE_DEFAULT;
    int first = 1;
    for (int i = 0; i < LX_LIVE_CLIENTS; i++) {
        struct client *c = &L->clients[i];
        if (c->fd < 0 || !c->attached || !(c->what & LX_LIVE_TRACE))
            continue;
        L->want_stops = 1;
        for (size_t k = 0; k < sizeof(L->want_set); k++)
            L->want_set[k] |= c->set[k];
        for (int nr = 0; nr < LX_NR_MAX; nr++)
            if (in_set(c->set, nr))
                L->want_plan[nr] = c->plan[nr];
        if (first || c->strsize > L->want_strsize)
            L->want_strsize = c->strsize;
        first = 0;
    }
    L->req_gen++;
}

/* Ask the tracer thread to apply what recompute() decided and wait until it has
 * (it is woken by lx_wake, which is never lost (wake.c); sent again while it has
 * not answered, which costs nothing).  0, or -ETIMEDOUT. */
static int tracer_apply(struct lx_live *L)
{
    uint64_t gen = L->req_gen;
    for (int tries = 0; L->done_gen < gen; tries++) {
        if (tries == 400 || L->stop)
            return -ETIMEDOUT; /* 2 s: the tracer is stuck (it never is for long) */
        pthread_mutex_unlock(&L->lock);
        lx_wake(L->s); /* its wait returns EINTR (wake.c) */
        pthread_mutex_lock(&L->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 5 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&L->cv, &L->lock, &ts);
    }
    return 0;
}

/* A client's first message: what it wants. */
static void take_request(struct lx_live *L, struct client *c)
{
    if (c->refuse_err) {
        char junk[512];
        while (recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_TRUNC) > 0) {
        }
        refuse(L, c->fd, c->refuse_err, c->refuse_why);
        c->fd = -1;
        drop_client(L, c);
        return;
    }
    struct lx_live_req *q = malloc(sizeof(*q));
    if (!q) {
        refuse(L, c->fd, ENOMEM, "out of memory");
        c->fd = -1;
        drop_client(L, c);
        return;
    }
    ssize_t n = recv(c->fd, q, sizeof(*q), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        free(q);
        return;
    }
    const char *why = NULL;
    if (n != (ssize_t)sizeof(*q) || q->magic != LX_LIVE_MAGIC)
        why = "not an lxbrand live request";
    else if (q->version != LX_LIVE_VERSION)
        why = "another version of lxbrand: its live protocol differs";
    else if (!(q->what & (LX_LIVE_TRACE | LX_LIVE_EVENTS)) || q->strsize < 1 || q->strsize > LX_CAP_STRSIZE_MAX)
        why = "a request this supervisor does not understand";
    if (why) {
        free(q);
        refuse(L, c->fd, EPROTO, why);
        c->fd = -1;
        drop_client(L, c);
        return;
    }
    c->what = q->what;
    c->strsize = q->strsize;
    memcpy(c->set, q->set, sizeof(c->set));
    c->plan = malloc(sizeof(q->plan));
    c->out = malloc(LX_LIVE_BATCH + sizeof(struct lx_live_dropped));
    if (!c->plan || !c->out) {
        free(q);
        refuse(L, c->fd, ENOMEM, "out of memory");
        c->fd = -1;
        drop_client(L, c);
        return;
    }
    for (int nr = 0; nr < LX_NR_MAX; nr++)
        for (int i = 0; i < 6; i++)
            if (q->plan[nr].what[i] >= LX_CAP_KINDS)
                q->plan[nr].what[i] = LX_CAP_NONE; /* a capture kind we do not know: none */
    memcpy(c->plan, q->plan, sizeof(q->plan));
    free(q);

    pthread_mutex_lock(&L->lock);
    if (!L->ring && !(L->ring = malloc(LX_LIVE_RING))) {
        pthread_mutex_unlock(&L->lock);
        refuse(L, c->fd, ENOMEM, "out of memory");
        c->fd = -1;
        drop_client(L, c);
        return;
    }
    /* a trace starts now; events also show what the ring still holds */
    c->cursor = (c->what & LX_LIVE_EVENTS) ? L->tail : L->head;
    c->attached = 1;
    __atomic_add_fetch(&L->nclients, 1, __ATOMIC_SEQ_CST);
    if (c->what & LX_LIVE_EVENTS)
        __atomic_add_fetch(&L->nevents, 1, __ATOMIC_SEQ_CST);
    recompute(L);
    int rc = tracer_apply(L); /* syscall stops for a trace, exec stops for events */
    pthread_mutex_unlock(&L->lock);
    if (rc < 0) {
        refuse(L, c->fd, -rc, "the supervisor did not take the request in time");
        c->fd = -1;
        pthread_mutex_lock(&L->lock);
        drop_client(L, c);
        recompute(L);
        pthread_mutex_unlock(&L->lock);
        return;
    }
    send_hello(L, c->fd, 0, NULL);
}

static void accept_client(struct lx_live *L)
{
    int fd = accept4(L->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    struct client *c = NULL;
    for (int i = 0; i < LX_LIVE_CLIENTS && !c; i++)
        if (L->clients[i].fd < 0)
            c = &L->clients[i];
    if (!c) {
        refuse(L, fd, EBUSY, "too many clients attached");
        return;
    }
    c->fd = fd;
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
        c->refuse_err = EACCES;
        snprintf(c->refuse_why, sizeof(c->refuse_why), "cannot tell who is asking");
    } else if (cr.uid != 0 && cr.uid != geteuid()) {
        c->refuse_err = EACCES;
        snprintf(c->refuse_why, sizeof(c->refuse_why), "only root or the sandbox's owner (uid %u) may attach",
                 (unsigned)geteuid());
    } else if (traced(cr.pid)) {
        c->refuse_err = EPERM;
        snprintf(c->refuse_why, sizeof(c->refuse_why),
                 "a traced process (as every process in a sandbox is) may not attach");
    }
}

static void client_gone(struct lx_live *L, struct client *c)
{
    int attached = c->attached;
    pthread_mutex_lock(&L->lock);
    drop_client(L, c);
    if (attached) {
        recompute(L);
        tracer_apply(L); /* the last client gone: the program's calls stop stopping */
    }
    pthread_mutex_unlock(&L->lock);
}

/* Send what client c has waiting; 0 sent or nothing to send, 1 its socket is full. */
static int flush_client(struct lx_live *L, struct client *c)
{
    for (;;) {
        if (!c->outlen) {
            pthread_mutex_lock(&L->lock);
            c->outlen = fill(L, c);
            pthread_mutex_unlock(&L->lock);
            if (!c->outlen)
                return 0;
        }
        ssize_t w = send(c->fd, c->out, c->outlen, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                return 1; /* a slow reader: its cursor waits, the ring goes on */
            if (errno == EINTR)
                continue;
            client_gone(L, c);
            return 0;
        }
        c->outlen = 0;
    }
}

static void *ctl_thread(void *arg)
{
    struct lx_live *L = arg;
    struct pollfd p[2 + LX_LIVE_CLIENTS];
    while (!L->stop) {
        __atomic_store_n(&L->wake_armed, 1, __ATOMIC_SEQ_CST);
        int full[LX_LIVE_CLIENTS] = {0};
        for (int i = 0; i < LX_LIVE_CLIENTS; i++)
            if (L->clients[i].fd >= 0 && L->clients[i].attached)
                full[i] = flush_client(L, &L->clients[i]);
        p[0] = (struct pollfd){.fd = L->lfd, .events = POLLIN};
        p[1] = (struct pollfd){.fd = L->efd, .events = POLLIN};
        for (int i = 0; i < LX_LIVE_CLIENTS; i++) {
            struct client *c = &L->clients[i];
            p[2 + i] = (struct pollfd){.fd = c->fd, .events = (short)((c->attached ? 0 : POLLIN) |
                                                                      (full[i] ? POLLOUT : 0))};
        }
        if (poll(p, 2 + LX_LIVE_CLIENTS, 200) < 0)
            continue;
        if (p[1].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(L->efd, &v, sizeof(v));
            (void)r;
        }
        if (p[0].revents & POLLIN)
            accept_client(L);
        for (int i = 0; i < LX_LIVE_CLIENTS; i++) {
            struct client *c = &L->clients[i];
            short re = p[2 + i].revents;
            if (c->fd < 0 || !re)
                continue;
            if (!c->attached && (re & POLLIN))
                take_request(L, c);
            else if (re & (POLLHUP | POLLERR | POLLNVAL))
                client_gone(L, c);
            else if (c->attached && (re & POLLIN)) {
                char junk[64]; /* clients say nothing after their request; EOF is a detach */
                ssize_t r = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                    client_gone(L, c);
            }
        }
    }
    return NULL;
}

int lx_live_start(struct lx_sup *s)
{
    struct lx_live *L = calloc(1, sizeof(*L));
    if (!L)
        return -ENOMEM;
    L->s = s;
    L->efd = -1;
    for (int i = 0; i < LX_LIVE_CLIENTS; i++)
        L->clients[i].fd = -1;
    pthread_mutex_init(&L->lock, NULL);
    pthread_cond_init(&L->cv, NULL);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "%s%d", LX_LIVE_NAME, (int)getpid());
    L->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = L->lfd < 0 ? -errno : 0;
    if (!rc && (bind(L->lfd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0 ||
                listen(L->lfd, 8) < 0))
        rc = -errno;
    if (!rc && (L->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        rc = -errno;
    if (!rc) {
        sigset_t all, old;
        sigfillset(&all); /* the control thread takes no signal: they are the program's or the tracer's */
        pthread_sigmask(SIG_BLOCK, &all, &old);
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 64 << 10);
        rc = -pthread_create(&L->th, &at, ctl_thread, L);
        pthread_attr_destroy(&at);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        L->started = rc == 0;
    }
    if (rc) {
        if (L->lfd >= 0)
            close(L->lfd);
        if (L->efd >= 0)
            close(L->efd);
        pthread_mutex_destroy(&L->lock);
        pthread_cond_destroy(&L->cv);
        free(L);
        return rc;
    }
    if (s->events && s->events->flags)
        L->ring = malloc(LX_LIVE_RING); /* started with events: keep the recent ones for a client */
    s->live = L;
    return 0;
}

int lx_live_events(const struct lx_sup *s)
{
    return s->live && __atomic_load_n(&s->live->nevents, __ATOMIC_RELAXED) > 0;
}

void lx_live_stop(struct lx_sup *s)
{
    struct lx_live *L = s->live;
    if (!L)
        return;
    L->stop = 1;
    uint64_t one = 1; /* wake its poll now: the program's end must not wait out the timeout */
    ssize_t w = write(L->efd, &one, sizeof(one));
    (void)w;
    pthread_join(L->th, NULL);
    close(L->lfd); /* no new client from here on */
    for (int i = 0; i < LX_LIVE_CLIENTS; i++) {
        struct client *c = &L->clients[i];
        if (c->fd < 0)
            continue;
        if (c->attached) {
            /* what is left, then the end: a client blocks reading until it comes */
            int fl = 0;
            for (int k = 0; k < 50 && (fl = flush_client(L, c)) == 1; k++) {
                struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
                poll(&pf, 1, 20);
            }
            if (c->fd >= 0) {
                struct lx_live_dropped bye = {.size = sizeof(bye), .type = LX_FRAME_BYE, .frames = c->dropped};
                ssize_t w = send(c->fd, &bye, sizeof(bye), MSG_DONTWAIT | MSG_NOSIGNAL);
                (void)w;
            }
        }
        drop_client(L, c);
    }
    close(L->efd);
    free(L->ring);
    pthread_mutex_destroy(&L->lock);
    pthread_cond_destroy(&L->cv);
    free(L);
    s->live = NULL;
    s->live_stops = 0;
}

/* -- the tracer thread's side ----------------------------------------------------- */

static void interrupt_one(struct lx_tstate *t, void *arg)
{
    (void)arg;
    ptrace(PTRACE_INTERRUPT, t->tid, 0, 0); /* it stops, and is resumed with syscall stops */
}

void lx_live_poll(struct lx_sup *s)
{
    struct lx_live *L = s->live;
    if (!L || __atomic_load_n(&L->req_gen, __ATOMIC_ACQUIRE) == L->seen_gen)
        return;
    pthread_mutex_lock(&L->lock);
    uint64_t gen = L->req_gen;
    int want = L->want_stops, execs = L->want_execs;
    memcpy(L->set, L->want_set, sizeof(L->set));
    memcpy(L->plan, L->want_plan, sizeof(L->plan));
    L->strsize = L->want_strsize;
    pthread_mutex_unlock(&L->lock);
    if (want && !s->live_stops) {
        s->live_stops = 1;
        /* a running task makes no stop of its own until some event: make it stop now */
        if (s->tids)
            lx_tids_each(s->tids, interrupt_one, NULL);
    } else if (!want) {
        s->live_stops = 0; /* each task goes back to PTRACE_CONT at its next stop */
    }
    if (execs != s->live_execs) {
        /* exec stops for an events client: each task gets its new options at its next
         * stop (ptrace.c), and is made to stop now so that it does not miss an exec */
        s->live_execs = execs;
        s->opts_gen++;
        if (execs && s->tids)
            lx_tids_each(s->tids, interrupt_one, NULL);
    }
    L->seen_gen = gen;
    pthread_mutex_lock(&L->lock);
    L->done_gen = gen;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->lock);
}

void lx_live_syscall(struct lx_sup *s, struct lx_tstate *t, int entry, int nr, const uint64_t *args, int64_t rval)
{
    struct lx_live *L = s->live;
    if (!L)
        return;
    if (entry) {
        t->live.len = 0;
        if (!s->live_stops || !in_set(L->set, nr))
            return;
        struct lx_call c = {.nr = nr, .pid = t->tid, .tid = t->tid, .sup = s};
        memcpy(c.args, args, sizeof(c.args));
        if (lx_rec_begin(&t->live, &L->plan[nr], L->strsize, &c, lx_action_for(s, nr)->kind, lx_now_ns()) == 0)
            ((struct lx_rec *)t->live.buf)->flags |= LX_REC_LIVE;
        return;
    }
    if (!t->live.len)
        return;
    struct lx_rec *r = (struct lx_rec *)t->live.buf;
    if (r->nr == nr || nr < 0) /* (nr < 0: unknown at the exit; a rewritten call keeps its entry's) */
        lx_rec_end(&t->live, &L->plan[r->nr], L->strsize, t->tid, rval, 1);
    else
        lx_rec_end(&t->live, NULL, L->strsize, t->tid, rval, 1);
    lx_live_put(s, t->live.buf, t->live.len);
    t->live.len = 0;
}

void lx_live_task_gone(struct lx_sup *s, struct lx_tstate *t)
{
    if (!s->live || !t || !t->live.len)
        return;
    lx_rec_end(&t->live, NULL, 0, t->tid, 0, 0); /* exit_group, a kill: no result */
    lx_live_put(s, t->live.buf, t->live.len);
    t->live.len = 0;
}
