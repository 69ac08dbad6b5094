/* [[network]] rules: the compiled table, the decision, and the calls performed
 * (net.h).
 *
 * How a decision is carried out (seccomp_unotify(2), "Caveats"; SECURITY.md):
 *
 * - A call CONTINUEs natively only when nothing was decided: the rules allow the
 *   operation for every socket and address and no [[path]] rule judges UNIX
 *   socket files, or sendto() has no address (a register).  Anything that
 *   depends on the socket's family (SO_DOMAIN of the copy we took) is carried
 *   out on that copy, because the kernel would look the fd number up again and
 *   another thread may have dup2()ed a different socket onto it.
 * - Otherwise the address is read ONCE into the supervisor and decided on; an
 *   allowed call is performed BY THE SUPERVISOR on the program's own socket,
 *   taken with pidfd_getfd(2), with the copy; its result is the call's result.
 * - UNIX path sockets are resolved as the program sees them (resolve.h), the
 *   rules are matched on the resolved path, and the supervisor connects through
 *   /proc/self/fd/N of the resolved inode, so a symlink swapped after the
 *   decision changes nothing.
 * - The kernel checks the call as the program's: a UNIX call is performed on a
 *   thread that took the program's euid, egid and groups (what SO_PEERCRED and
 *   the socket file's permissions see; its umask for a bind), an inet bind with
 *   the program's CAP_NET_BIND_SERVICE only (the socket's network namespace
 *   then says which ports need it), and SCM_CREDENTIALS carry only the
 *   program's own ids; SCM_RIGHTS carry the program's files (pidfd_getfd).
 * - A blocking connect() of a stream socket is performed on a thread of its own
 *   and answered from there (unotify), so the program's other trapped calls go
 *   on; a non-blocking one returns EINPROGRESS as natively (the copy shares the
 *   open file description, O_NONBLOCK included).  Under ptrace, and for a
 *   blocking send, the supervisor waits (DIVERGENCE.md).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "engine.h"
#include "events.h"
#include "net.h"
#include "paths.h"
#include "resolve.h"
#include "view.h"

#define MAX_ADDR 128          /* sizeof(struct sockaddr_storage) */
#define MAX_SEND (4u << 20)   /* bytes copied per send (a stream send may be partial, a datagram cannot be bigger) */
#define MAX_IOV 1024          /* UIO_MAXIOV */
#define MAX_CONTROL (64u << 10)
#define MAX_MMSG 1024         /* UIO_MAXIOV caps sendmmsg's vlen too */
#define CAP_NET_BIND_SERVICE 10
#define OURS (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
#define WAKE_SIGNAL (SIGRTMIN + 5) /* unotify.c's: interrupts a blocking call of ours */

/* -- the table ------------------------------------------------------------------- */

int lx_net_new(struct lx_sup *s, int default_allow, int log, int refuse_sctp)
{
    lx_net_free(s);
    struct lx_net *n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->default_allow = default_allow ? 1 : 0;
    n->log = log ? 1 : 0;
    n->refuse_sctp = refuse_sctp ? 1 : 0;
    pthread_mutex_init(&n->lock, NULL);
    s->net = n;
    return lx_views_init(s);
}

static void rule_free(struct lx_net_rule *r)
{
    for (uint32_t i = 0; i < r->npaths; i++)
        lx_pattern_free(&r->paths[i]);
    for (uint32_t i = 0; i < r->nabstract; i++)
        lx_pattern_free(&r->abstract[i]);
    free(r->paths);
    free(r->abstract);
    free(r->cidr);
    free(r->ports);
    memset(r, 0, sizeof(*r));
}

static int globs(struct lx_pattern **out, uint32_t n, const void *const *data, const size_t *lens)
{
    *out = calloc(n ? n : 1, sizeof(**out));
    if (!*out)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        int rc = lx_pattern_set(&(*out)[i], 1, data[i], lens[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int rule_valid(const struct lx_net_rule *r)
{
    if (r->allow > 1 || !r->ops || r->ops > LX_NET_ALL || r->err <= 0 || r->err > 4095 || r->family <= 0 ||
        r->family >= 64)
        return 0;
    for (uint32_t i = 0; i < r->ncidr; i++)
        if (r->cidr[i].v6 > 1 || r->cidr[i].plen > (r->cidr[i].v6 ? 128 : 32))
            return 0;
    for (uint32_t i = 0; i < r->nports; i++)
        if (r->ports[2 * i] > r->ports[2 * i + 1])
            return 0;
    return 1;
}

static int append(struct lx_net *n, struct lx_net_rule *r)
{
    struct lx_net_rule *nr = realloc(n->rules, (n->nrules + 1) * sizeof(*nr));
    if (!nr)
        return -ENOMEM;
    n->rules = nr;
    nr[n->nrules++] = *r;
    return 0;
}

int lx_net_add(struct lx_sup *s, int allow, unsigned ops, int err, int family, uint32_t ncidr,
               const struct lx_cidr *cidr, uint32_t nports, const uint16_t *ports, uint32_t npaths,
               const void *const *paths, const size_t *plens, uint32_t nabs, const void *const *abs,
               const size_t *alens)
{
    if (!s->net)
        return -EINVAL;
    struct lx_net_rule r = {.allow = allow ? 1 : 0, .ops = (uint8_t)ops, .err = err ? err : EACCES, .family = family,
                            .ncidr = ncidr, .nports = nports, .npaths = npaths, .nabstract = nabs};
    int rc = -ENOMEM;
    r.cidr = calloc(ncidr ? ncidr : 1, sizeof(*r.cidr));
    r.ports = calloc(nports ? 2 * nports : 1, sizeof(*r.ports));
    if (r.cidr && r.ports) {
        memcpy(r.cidr, cidr, ncidr * sizeof(*cidr));
        memcpy(r.ports, ports, 2 * nports * sizeof(*ports));
        rc = globs(&r.paths, npaths, paths, plens);
        if (rc == 0)
            rc = globs(&r.abstract, nabs, abs, alens);
        if (rc == 0 && (ops > LX_NET_ALL || !rule_valid(&r)))
            rc = -EINVAL;
        if (rc == 0)
            rc = append(s->net, &r);
    }
    if (rc < 0)
        rule_free(&r);
    return rc;
}

void lx_net_free(struct lx_sup *s)
{
    struct lx_net *n = s->net;
    if (!n)
        return;
    for (uint32_t i = 0; i < n->nrules; i++)
        rule_free(&n->rules[i]);
    free(n->rules);
    pthread_mutex_destroy(&n->lock);
    free(n);
    s->net = NULL;
}

/* LX_SEC_NET: default_allow, log, refuse_sctp (u8 each), nrules (u32); per rule
 * allow, ops (u8), err, family (i32), ncidr, nports, npaths, nabstract (u32), the
 * cidr records, the ports, then the patterns (match.h). */
int lx_net_export(const struct lx_sup *s, struct lx_buf *out)
{
    const struct lx_net *n = s->net;
    if (!n)
        return 0;
    uint8_t head[3] = {n->default_allow, n->log, n->refuse_sctp};
    int rc = lx_buf_put(out, head, 3);
    if (rc == 0)
        rc = lx_buf_put(out, &n->nrules, 4);
    for (uint32_t i = 0; rc == 0 && i < n->nrules; i++) {
        const struct lx_net_rule *r = &n->rules[i];
        uint8_t b[2] = {r->allow, r->ops};
        uint32_t counts[4] = {r->ncidr, r->nports, r->npaths, r->nabstract};
        rc = lx_buf_put(out, b, 2);
        if (rc == 0)
            rc = lx_buf_put(out, &r->err, 4);
        if (rc == 0)
            rc = lx_buf_put(out, &r->family, 4);
        if (rc == 0)
            rc = lx_buf_put(out, counts, sizeof(counts));
        if (rc == 0)
            rc = lx_buf_put(out, r->cidr, r->ncidr * sizeof(*r->cidr));
        if (rc == 0)
            rc = lx_buf_put(out, r->ports, 2 * r->nports * sizeof(*r->ports));
        for (uint32_t j = 0; rc == 0 && j < r->npaths; j++)
            rc = lx_pattern_put(out, &r->paths[j]);
        for (uint32_t j = 0; rc == 0 && j < r->nabstract; j++)
            rc = lx_pattern_put(out, &r->abstract[j]);
    }
    return rc;
}

static int take(const uint8_t **q, const uint8_t *end, void *out, size_t n)
{
    if ((size_t)(end - *q) < n)
        return -EINVAL;
    memcpy(out, *q, n);
    *q += n;
    return 0;
}

int lx_net_import(struct lx_sup *s, const uint8_t *p, size_t len)
{
    const uint8_t *q = p, *end = p + len;
    uint8_t head[3];
    uint32_t nrules;
    if (take(&q, end, head, 3) < 0 || take(&q, end, &nrules, 4) < 0 || head[0] > 1 || head[1] > 1 || head[2] > 1)
        return -EINVAL;
    int rc = lx_net_new(s, head[0], head[1], head[2]);
    for (uint32_t i = 0; rc == 0 && i < nrules; i++) {
        struct lx_net_rule r;
        memset(&r, 0, sizeof(r));
        uint8_t b[2];
        uint32_t counts[4];
        rc = take(&q, end, b, 2);
        if (rc == 0)
            rc = take(&q, end, &r.err, 4);
        if (rc == 0)
            rc = take(&q, end, &r.family, 4);
        if (rc == 0)
            rc = take(&q, end, counts, sizeof(counts));
        if (rc == 0 && (counts[0] > len || counts[1] > len || counts[2] > len || counts[3] > len))
            rc = -EINVAL;
        if (rc < 0)
            break;
        r.allow = b[0];
        r.ops = b[1];
        r.ncidr = counts[0];
        r.nports = counts[1];
        r.npaths = counts[2];
        r.nabstract = counts[3];
        r.cidr = calloc(r.ncidr ? r.ncidr : 1, sizeof(*r.cidr));
        r.ports = calloc(r.nports ? 2 * r.nports : 1, sizeof(*r.ports));
        r.paths = calloc(r.npaths ? r.npaths : 1, sizeof(*r.paths));
        r.abstract = calloc(r.nabstract ? r.nabstract : 1, sizeof(*r.abstract));
        rc = r.cidr && r.ports && r.paths && r.abstract ? 0 : -ENOMEM;
        if (rc == 0)
            rc = take(&q, end, r.cidr, r.ncidr * sizeof(*r.cidr));
        if (rc == 0)
            rc = take(&q, end, r.ports, 2 * r.nports * sizeof(*r.ports));
        for (uint32_t j = 0; rc == 0 && j < r.npaths; j++)
            rc = lx_pattern_get(&r.paths[j], &q, end);
        for (uint32_t j = 0; rc == 0 && j < r.nabstract; j++)
            rc = lx_pattern_get(&r.abstract[j], &q, end);
        if (rc == 0 && !rule_valid(&r))
            rc = -EINVAL;
        if (rc == 0)
            rc = append(s->net, &r);
        if (rc < 0)
            rule_free(&r);
    }
    if (rc == 0 && q != end)
        rc = -EINVAL;
    if (rc < 0)
        lx_net_free(s);
    return rc;
}

/* -- the decision ---------------------------------------------------------------- */

static int in_cidr(const struct lx_cidr *c, const struct lx_sockaddr *a)
{
    if (c->v6 != (a->family == AF_INET6))
        return 0;
    unsigned bits = c->plen, i = 0;
    for (; bits >= 8; i++, bits -= 8)
        if (c->addr[i] != a->ip[i])
            return 0;
    return bits == 0 || ((c->addr[i] ^ a->ip[i]) & (uint8_t)(0xff << (8 - bits))) == 0;
}

static int any_glob(const struct lx_pattern *p, uint32_t n, const void *s, size_t len, int mode)
{
    struct lx_text_buf t = {.s = s, .n = len, .mode = mode};
    int hit = 0;
    for (uint32_t i = 0; i < n && !hit; i++)
        hit = lx_pattern_match(&p[i], &t);
    lx_text_free(&t);
    return hit; /* -ENOMEM: the caller denies */
}

/* NetRule.matches in Python: op, family, then what the rule says of the address. */
static int matches(const struct lx_net_rule *r, unsigned op, const struct lx_sockaddr *a)
{
    if (!(r->ops & op) || a->family != r->family)
        return 0;
    if (a->family == AF_INET || a->family == AF_INET6) {
        int ok = !r->ncidr;
        for (uint32_t i = 0; i < r->ncidr && !ok; i++)
            ok = in_cidr(&r->cidr[i], a);
        if (!ok)
            return 0;
        ok = !r->nports;
        for (uint32_t i = 0; i < r->nports && !ok; i++)
            ok = a->port >= r->ports[2 * i] && a->port <= r->ports[2 * i + 1];
        return ok;
    }
    if (a->family == AF_UNIX) {
        if (!r->npaths && !r->nabstract)
            return 1;
        if (a->path)
            return any_glob(r->paths, r->npaths, a->path, a->plen, LX_TEXT_UTF8);
        if (a->abstract)
            return any_glob(r->abstract, r->nabstract, a->abstract, a->alen, LX_TEXT_LATIN1);
        return 0; /* unnamed: no name a rule with names could match */
    }
    return 1;
}

int lx_net_decide(const struct lx_net *n, unsigned op, const struct lx_sockaddr *a)
{
    return lx_net_decide_rule(n, op, a, NULL);
}

int lx_net_decide_rule(const struct lx_net *n, unsigned op, const struct lx_sockaddr *a, int *which)
{
    if (which)
        *which = 0;
    for (uint32_t i = 0; i < n->nrules; i++) {
        int m = matches(&n->rules[i], op, a);
        if (m < 0)
            return ENOMEM; /* cannot decide: deny */
        if (m) {
            if (which)
                *which = (int)i + 1;
            return n->rules[i].allow ? 0 : n->rules[i].err;
        }
    }
    return n->default_allow ? 0 : EACCES;
}

static int has_address(const struct lx_net_rule *r)
{
    return r->ncidr || r->nports || r->npaths || r->nabstract;
}

/* The socket domains a rule may decide: an inet6 socket reaches IPv4 too. */
static int for_domain(const struct lx_net_rule *r, int domain)
{
    return r->family == domain || (r->family == AF_INET && domain == AF_INET6);
}

/* The verdict for every `op` on a socket of `domain` whatever the address: 0
 * allowed, an errno, or -1 when the address matters. */
static int fixed_verdict(const struct lx_net *n, unsigned op, int domain)
{
    for (uint32_t i = 0; i < n->nrules; i++) {
        const struct lx_net_rule *r = &n->rules[i];
        if ((r->ops & op) && for_domain(r, domain))
            return has_address(r) ? -1 : (r->allow ? 0 : r->err);
    }
    return n->default_allow ? 0 : EACCES;
}

/* Is every `op` allowed whatever the socket and the address?  Only then may the
 * kernel run the call (CONTINUE): it looks the fd up again. */
static int allows_all(const struct lx_net *n, unsigned op)
{
    if (!n->default_allow)
        return 0;
    for (uint32_t i = 0; i < n->nrules; i++)
        if ((n->rules[i].ops & op) && !n->rules[i].allow)
            return 0;
    return 1;
}

/* -- logging --------------------------------------------------------------------- */

static const char *family_name(int f, char buf[16])
{
    static const struct { int f; const char *n; } names[] = {
        {AF_UNIX, "unix"}, {AF_INET, "inet"}, {AF_INET6, "inet6"}, {AF_NETLINK, "netlink"}, {AF_PACKET, "packet"},
        {AF_APPLETALK, "appletalk"}, {AF_AX25, "ax25"}, {AF_BLUETOOTH, "bluetooth"}, {AF_CAN, "can"},
        {AF_IPX, "ipx"}, {AF_KEY, "key"}, {AF_TIPC, "tipc"}, {AF_VSOCK, "vsock"}, {AF_ALG, "alg"}, {AF_X25, "x25"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].f == f)
            return names[i].n;
    snprintf(buf, 16, "#%d", f);
    return buf;
}

static const char *op_name(unsigned op)
{
    return op == LX_NET_CONNECT ? "connect" : op == LX_NET_BIND ? "bind" : "send";
}

static void log_denial(const struct lx_net *n, unsigned op, const char *what, pid_t pid, int err)
{
    if (!n->log)
        return;
    const char *name = strerrorname_np(err);
    fprintf(stderr, "lxbrand: network policy: %s to %s by pid %d denied (%s)\n", op_name(op), what, (int)pid,
            name ? name : "?");
}

static void describe(const struct lx_sockaddr *a, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN], fb[16];
    if (a->family == AF_INET || a->family == AF_INET6) {
        inet_ntop(a->family, a->ip, ip, sizeof(ip));
        snprintf(out, cap, "%s:%u", ip, a->port);
    } else if (a->family == AF_UNIX && a->path) {
        snprintf(out, cap, "unix:'%.*s'", (int)a->plen, a->path);
    } else if (a->family == AF_UNIX && a->abstract) {
        snprintf(out, cap, "unix:@b'%.*s'", (int)a->alen, (const char *)a->abstract);
    } else {
        snprintf(out, cap, "%s", family_name(a->family, fb));
    }
}

/* -- one call -------------------------------------------------------------------- */

/* One judged socket call: the program's socket (our copy), its domain and type,
 * the view of the calling thread, and what it keeps open meanwhile. */
struct nc {
    struct lx_sup *s;
    struct lx_call *c;
    struct lx_view *v;
    unsigned op;
    int sock, domain, type;
    int fds[4];       /* supervisor fds named by the sockaddrs built (UNIX paths), closed after */
    int nfds;
};

static int keep_fd(struct nc *n, int fd)
{
    if (n->nfds == (int)(sizeof(n->fds) / sizeof(n->fds[0]))) {
        close(fd);
        return -EMFILE;
    }
    n->fds[n->nfds++] = fd;
    return 0;
}

/* The credentials the call is performed with: for UNIX sockets the program's
 * identity (euid, egid, groups; fs ids follow); for an inet bind its
 * CAP_NET_BIND_SERVICE alone; otherwise the supervisor's (nothing to check). */
static int as_caller(struct nc *n, struct lx_cred_state *st, int bind_port)
{
    st->switched = 0;
    if (n->domain == AF_UNIX)
        return lx_creds_take(n->s, &n->v->cr, 1, st);
    if (bind_port) {
        struct lx_creds want = n->s->views->own;
        want.capeff = n->v->capeff_own & (1ull << CAP_NET_BIND_SERVICE);
        return lx_creds_take(n->s, &want, 0, st);
    }
    return 0;
}

/* A UNIX socket path as the program sees it, resolved; the sockaddr_un the
 * supervisor uses names the resolved inode (or, for bind, its resolved parent). */
static int unix_target(struct nc *n, struct lx_sockaddr *a, char *resolved, struct sockaddr_un *sun, socklen_t *slen)
{
    char path[LX_PATH_MAX + 1], g[LX_PATH_MAX];
    if (a->plen > LX_PATH_MAX)
        return -ENAMETOOLONG;
    memcpy(path, a->path, a->plen);
    path[a->plen] = '\0';
    ssize_t gn = lx_guest_path(n->v, LX_AT_FDCWD, path, g);
    if (gn < 0)
        return (int)gn;
    struct lx_cred_state st;
    int rc = lx_creds_take(n->s, &n->v->cr, 1, &st); /* search permission on the way, as the program */
    if (rc < 0)
        return rc;
    int fd;
    char base[256] = "";
    if (n->op == LX_NET_BIND) {
        size_t k = lx_match_len(g, (size_t)gn);
        g[k] = '\0';
        char *slash = strrchr(g, '/');
        if (!slash || !slash[1] || !strcmp(slash + 1, ".") || !strcmp(slash + 1, "..") || strlen(slash + 1) >= sizeof(base)) {
            lx_creds_restore(n->s, &st);
            return -EINVAL;
        }
        strcpy(base, slash + 1);
        if (slash == g)
            g[1] = '\0';
        else
            *slash = '\0';
        fd = lx_openat2(n->v->root->fd, g, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, OURS);
    } else {
        fd = lx_openat2(n->v->root->fd, g, O_PATH | O_CLOEXEC, 0, OURS);
    }
    lx_creds_restore(n->s, &st);
    if (fd < 0)
        return fd;
    if ((rc = keep_fd(n, fd)) < 0)
        return rc;
    struct stat sb;
    if (n->op != LX_NET_BIND && (fstat(fd, &sb) < 0 || !S_ISSOCK(sb.st_mode)))
        return -ECONNREFUSED;
    ssize_t rn = lx_real_path(n->v, fd, resolved);
    if (rn < 0)
        return (int)rn;
    if (n->op == LX_NET_BIND) {
        size_t k = lx_match_len(resolved, (size_t)rn);
        if (k == 1)
            k = 0;
        if (k + 1 + strlen(base) >= LX_PATH_MAX)
            return -ENAMETOOLONG;
        resolved[k] = '/';
        strcpy(resolved + k + 1, base);
        rn = (ssize_t)strlen(resolved);
    }
    a->path = resolved;
    a->plen = (size_t)rn;
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    int k = n->op == LX_NET_BIND ? snprintf(sun->sun_path, sizeof(sun->sun_path), "/proc/self/fd/%d/%s", fd, base)
                                 : snprintf(sun->sun_path, sizeof(sun->sun_path), "/proc/self/fd/%d", fd);
    if (k < 0 || (size_t)k >= sizeof(sun->sun_path))
        return -ENAMETOOLONG;
    *slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)k + 1);
    return 0;
}

/* An address as the supervisor uses it: the program's, or one that names the
 * resolved UNIX socket file (its path, in the program's view, in `resolved`). */
struct dest {
    struct sockaddr_storage addr;
    socklen_t len;
    char resolved[LX_PATH_MAX];
};

/* One address: read once, parsed, decided, made usable by the supervisor (in
 * *out, *olen).  0 or -errno (the denial logged). */
static int target(struct nc *n, uint64_t addr, uint64_t alen, struct sockaddr_storage *out, socklen_t *olen,
                  char *resolved)
{
    alen &= 0xffffffff;
    if (alen > MAX_ADDR || alen < 2)
        return -EINVAL;
    uint8_t raw[MAX_ADDR];
    if (lx_mem_read(n->c->pid, addr, raw, alen) != (ssize_t)alen)
        return -EFAULT;
    memcpy(out, raw, alen);
    *olen = (socklen_t)alen;
    struct lx_sockaddr a;
    memset(&a, 0, sizeof(a));
    uint16_t fam;
    memcpy(&fam, raw, 2);
    a.family = fam;
    switch (fam) {
    case AF_UNSPEC:
        /* connect: dissolve the association; it reaches nobody */
        return n->op == LX_NET_CONNECT ? 0 : -EAFNOSUPPORT;
    case AF_INET:
        if (alen < sizeof(struct sockaddr_in))
            return -EINVAL;
        a.port = ntohs(((struct sockaddr_in *)raw)->sin_port);
        memcpy(a.ip, &((struct sockaddr_in *)raw)->sin_addr, 4);
        break;
    case AF_INET6: {
        if (alen < 24) /* SIN6_LEN_RFC2133 */
            return -EINVAL;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)raw;
        a.port = ntohs(s6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            a.family = AF_INET; /* it reaches IPv4: IPv4 rules apply */
            memcpy(a.ip, s6->sin6_addr.s6_addr + 12, 4);
        } else {
            memcpy(a.ip, &s6->sin6_addr, 16);
        }
        break;
    }
    case AF_UNIX: {
        size_t sl = alen - 2;
        const uint8_t *sp = raw + 2;
        if (sl == 0)
            break; /* unnamed (bind: autobind) */
        if (sp[0] == 0) {
            a.abstract = sp + 1;
            a.alen = sl - 1;
            break;
        }
        const uint8_t *z = memchr(sp, 0, sl);
        a.path = (const char *)sp;
        a.plen = z ? (size_t)(z - sp) : sl;
        struct sockaddr_un sun;
        int rc = unix_target(n, &a, resolved, &sun, olen);
        if (rc < 0)
            return rc;
        memcpy(out, &sun, *olen);
        if (n->s->paths) { /* the socket file is judged as a file too: decided on the resolved path */
            rc = lx_paths_check(n->s, n->op == LX_NET_BIND ? LX_OP_CREATE : LX_OP_WRITE, a.path, a.plen, n->c->pid);
            if (rc < 0)
                return rc;
        }
        break;
    }
    default:
        break;
    }
    int rule;
    int err = lx_net_decide_rule(n->s->net, n->op, &a, &rule);
    if (lx_events_wanted(n->s)) { /* events.h: the verdict, with the rule and its comment */
        char text[LX_PATH_MAX + 32];
        lx_addr_text(raw, alen, text, sizeof(text));
        if (err)
            lx_event_denied(n->s, n->c->tid, n->c->nr, err, LX_EVSRC_NET, rule, op_name(n->op), text);
        else if (n->op != LX_NET_SEND)
            lx_event_addr(n->s, n->op == LX_NET_CONNECT ? LX_EV_CONNECT : LX_EV_BIND, n->c->tid, n->c->nr, text, 0,
                          LX_EVSRC_NET, rule);
    }
    if (err) {
        char what[LX_PATH_MAX + 32];
        describe(&a, what, sizeof(what));
        log_denial(n->s->net, n->op, what, n->c->pid, err);
        return -err;
    }
    return 0;
}

static int result(long r)
{
    return r < 0 ? -errno : (int)r;
}

static int destination(struct nc *n, uint64_t addr, uint64_t alen, struct dest *d)
{
    return target(n, addr, alen, &d->addr, &d->len, d->resolved);
}

/* A blocking connect, on a thread of its own (unotify): answered from there. */
struct lx_net_job {
    struct lx_net_job *next;
    pthread_t thread;
    struct lx_sup *s;
    uint64_t id;
    int sock, pathfd;       /* our copies, closed by the job */
    struct sockaddr_storage addr;
    socklen_t alen;
    struct lx_creds cr;     /* identity (UNIX): a copy, groups included */
    int identity;
};

static void *connect_job(void *arg)
{
    struct lx_net_job *j = arg;
    struct lx_cred_state st = {0};
    long r = 0;
    if (j->identity)
        r = lx_creds_take(j->s, &j->cr, 1, &st); /* credentials are per thread: take them on this one */
    if (r == 0) {
        if (j->pathfd >= 0) { /* the resolved socket file, under this job's own fd */
            struct sockaddr_un *sun = (struct sockaddr_un *)&j->addr;
            int k = snprintf(sun->sun_path, sizeof(sun->sun_path), "/proc/self/fd/%d", j->pathfd);
            j->alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)k + 1);
        }
        r = connect(j->sock, (struct sockaddr *)&j->addr, j->alen) < 0 ? -errno : 0;
    }
    lx_creds_restore(j->s, &st);
    lx_notify_send(j->s, j->id, r); /* ENOENT: the caller is gone */
    struct lx_net *n = j->s->net;
    pthread_mutex_lock(&n->lock);
    for (struct lx_net_job **p = &n->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    pthread_mutex_unlock(&n->lock);
    close(j->sock);
    if (j->pathfd >= 0)
        close(j->pathfd);
    lx_creds_free(&j->cr);
    free(j);
    return NULL;
}

static int connect_later(struct nc *n, const struct sockaddr_storage *addr, socklen_t alen)
{
    struct lx_net_job *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->s = n->s;
    j->id = n->c->id;
    j->addr = *addr;
    j->alen = alen;
    j->pathfd = -1;
    j->identity = n->domain == AF_UNIX;
    j->sock = fcntl(n->sock, F_DUPFD_CLOEXEC, 0);
    if (n->nfds)
        j->pathfd = fcntl(n->fds[0], F_DUPFD_CLOEXEC, 0); /* the socket file the sockaddr names */
    j->cr = n->v->cr;
    j->cr.groups = calloc((size_t)n->v->cr.ngroups + 1, sizeof(gid_t));
    if (j->sock < 0 || (n->nfds && j->pathfd < 0) || !j->cr.groups) {
        if (j->sock >= 0)
            close(j->sock);
        if (j->pathfd >= 0)
            close(j->pathfd);
        free(j->cr.groups);
        free(j);
        return -ENOMEM;
    }
    memcpy(j->cr.groups, n->v->cr.groups, (size_t)n->v->cr.ngroups * sizeof(gid_t));
    struct lx_net *net = n->s->net;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&net->lock);
    int rc = pthread_create(&j->thread, &at, connect_job, j);
    if (rc == 0) {
        j->next = net->jobs;
        net->jobs = j;
    }
    pthread_mutex_unlock(&net->lock);
    pthread_attr_destroy(&at);
    if (rc) {
        close(j->sock);
        if (j->pathfd >= 0)
            close(j->pathfd);
        free(j->cr.groups);
        free(j);
        return -rc;
    }
    n->c->sent = 1; /* the job answers */
    return 0;
}

void lx_net_stop(struct lx_sup *s)
{
    struct lx_net *n = s->net;
    if (!n)
        return;
    for (;;) {
        pthread_mutex_lock(&n->lock);
        int left = n->jobs != NULL;
        for (struct lx_net_job *j = n->jobs; j; j = j->next)
            pthread_kill(j->thread, WAKE_SIGNAL); /* the connect returns EINTR */
        pthread_mutex_unlock(&n->lock);
        if (!left)
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int do_connect(struct nc *n)
{
    struct dest d;
    int rc = destination(n, n->c->args[1], n->c->args[2], &d);
    if (rc < 0)
        return rc;
    int fl = fcntl(n->sock, F_GETFL);
    if (n->s->backend == LX_BACKEND_UNOTIFY && fl >= 0 && !(fl & O_NONBLOCK) &&
        (n->type == SOCK_STREAM || n->type == SOCK_SEQPACKET))
        return connect_later(n, &d.addr, d.len);
    struct lx_cred_state st;
    if ((rc = as_caller(n, &st, 0)) < 0)
        return rc;
    rc = result(connect(n->sock, (struct sockaddr *)&d.addr, d.len));
    lx_creds_restore(n->s, &st);
    return rc;
}

static int do_bind(struct nc *n)
{
    struct dest d;
    int rc = destination(n, n->c->args[1], n->c->args[2], &d);
    if (rc < 0)
        return rc;
    struct lx_cred_state st;
    mode_t old = 0;
    int umasked = 0;
    if ((rc = as_caller(n, &st, n->domain == AF_INET || n->domain == AF_INET6)) < 0)
        return rc;
    if (n->domain == AF_UNIX && d.addr.ss_family == AF_UNIX && d.len > offsetof(struct sockaddr_un, sun_path) + 1 &&
        ((struct sockaddr_un *)&d.addr)->sun_path[0]) {
        /* the socket file is made with the program's umask, as its mknod would be */
        int m = lx_view_umask(n->c->tid);
        if (m >= 0 && lx_creds_own_fs() == 0) {
            old = umask((mode_t)m);
            umasked = 1;
        }
    }
    rc = result(bind(n->sock, (struct sockaddr *)&d.addr, d.len));
    if (umasked)
        umask(old);
    lx_creds_restore(n->s, &st);
    return rc;
}

static int do_sendto(struct nc *n)
{
    const uint64_t *a = n->c->args;
    struct dest d;
    int rc = destination(n, a[4], a[5], &d);
    if (rc < 0)
        return rc;
    size_t len = a[2] < MAX_SEND ? (size_t)a[2] : MAX_SEND;
    uint8_t *data = malloc(len ? len : 1);
    if (!data)
        return -ENOMEM;
    if (len && lx_mem_read(n->c->pid, a[1], data, len) != (ssize_t)len) {
        free(data);
        return -EFAULT;
    }
    struct lx_cred_state st;
    if ((rc = as_caller(n, &st, 0)) == 0) {
        rc = result(sendto(n->sock, data, len, (int)a[3], (struct sockaddr *)&d.addr, d.len));
        lx_creds_restore(n->s, &st);
    }
    free(data);
    return rc;
}

/* Rebuild ancillary data for the supervisor's sendmsg: SCM_RIGHTS numbers are the
 * program's, so each fd is taken with pidfd_getfd; SCM_CREDENTIALS would be
 * checked against the supervisor's credentials, so only the program's own pass
 * (its pid as it or we see it; sent as ours). */
static int control(struct nc *n, uint8_t *ctl, size_t len, int *taken, int *ntaken, int maxtaken)
{
    size_t off = 0;
    while (off + sizeof(struct cmsghdr) <= len) {
        struct cmsghdr h;
        memcpy(&h, ctl + off, sizeof(h));
        if (h.cmsg_len < sizeof(h) || off + h.cmsg_len > len)
            return -EINVAL;
        uint8_t *data = ctl + off + sizeof(h);
        size_t dlen = h.cmsg_len - sizeof(h);
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
            for (size_t i = 0; i + 4 <= dlen; i += 4) {
                int fd;
                memcpy(&fd, data + i, 4);
                if (*ntaken == maxtaken)
                    return -ETOOMANYREFS;
                int mine = lx_take_fd(n->s, n->c, fd);
                if (mine < 0)
                    return mine;
                taken[(*ntaken)++] = mine;
                memcpy(data + i, &mine, 4);
            }
        } else if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_CREDENTIALS) {
            struct ucred u;
            if (dlen < sizeof(u))
                return -EINVAL;
            memcpy(&u, data, sizeof(u));
            const struct lx_view *v = n->v;
            int pid_ok = u.pid == v->tgid || u.pid == v->ns_tgid;
            int uid_ok = u.uid == v->ruid || u.uid == v->cr.euid;
            int gid_ok = u.gid == v->rgid || u.gid == v->cr.egid;
            if (!pid_ok || !uid_ok || !gid_ok)
                return -EPERM; /* SCM_CREDENTIALS other than the program's */
            u.pid = v->tgid;
            memcpy(data, &u, sizeof(u));
        }
        off += CMSG_ALIGN(h.cmsg_len);
    }
    return 0;
}

/* One struct msghdr of the program's at msg_ptr: read, judged, sent. */
static int send_one(struct nc *n, uint64_t msg_ptr, int flags)
{
    struct { uint64_t name; uint32_t namelen, pad; uint64_t iov, iovlen, control, controllen; } m;
    if (lx_mem_read(n->c->pid, msg_ptr, &m, sizeof(m)) != (ssize_t)sizeof(m))
        return -EFAULT;
    struct dest d;
    d.len = 0;
    int rc;
    /* as the kernel reads a msghdr (____sys_sendmsg / __copy_msghdr): no name, or a
     * zero length, means no address (the connected peer); a longer one is clamped */
    uint32_t namelen = m.namelen > MAX_ADDR ? MAX_ADDR : m.namelen;
    if (m.name && namelen && (rc = destination(n, m.name, namelen, &d)) < 0)
        return rc;
    if (m.iovlen > MAX_IOV)
        return -EMSGSIZE;
    struct iovec *iov = calloc(m.iovlen ? m.iovlen : 1, sizeof(*iov));
    uint8_t *ctl = NULL;
    int taken[256], ntaken = 0;
    size_t total = 0, nchunks = 0;
    rc = iov ? 0 : -ENOMEM;
    if (rc == 0 && m.iovlen) {
        struct { uint64_t base, len; } *piov = calloc(m.iovlen, sizeof(*piov));
        if (!piov || lx_mem_read(n->c->pid, m.iov, piov, m.iovlen * sizeof(*piov)) != (ssize_t)(m.iovlen * sizeof(*piov)))
            rc = piov ? -EFAULT : -ENOMEM;
        for (uint64_t k = 0; rc == 0 && k < m.iovlen; k++) {
            size_t ln = piov[k].len < MAX_SEND - total ? (size_t)piov[k].len : MAX_SEND - total;
            if (!ln)
                continue;
            iov[nchunks].iov_base = malloc(ln);
            if (!iov[nchunks].iov_base) {
                rc = -ENOMEM;
                break;
            }
            iov[nchunks].iov_len = ln;
            nchunks++;
            if (lx_mem_read(n->c->pid, piov[k].base, iov[nchunks - 1].iov_base, ln) != (ssize_t)ln)
                rc = -EFAULT;
            total += ln;
        }
        free(piov);
    }
    if (rc == 0 && m.control && m.controllen) {
        if (m.controllen > MAX_CONTROL) {
            rc = -ENOBUFS;
        } else {
            ctl = malloc(m.controllen);
            if (!ctl)
                rc = -ENOMEM;
            else if (lx_mem_read(n->c->pid, m.control, ctl, m.controllen) != (ssize_t)m.controllen)
                rc = -EFAULT;
            else
                rc = control(n, ctl, m.controllen, taken, &ntaken, 256);
        }
    }
    if (rc == 0) {
        struct msghdr mh = {.msg_name = d.len ? &d.addr : NULL, .msg_namelen = d.len, .msg_iov = iov,
                            .msg_iovlen = nchunks, .msg_control = ctl, .msg_controllen = ctl ? m.controllen : 0};
        struct lx_cred_state st;
        if ((rc = as_caller(n, &st, 0)) == 0) {
            rc = result(sendmsg(n->sock, &mh, flags));
            lx_creds_restore(n->s, &st);
        }
    }
    for (size_t k = 0; k < nchunks; k++)
        free(iov[k].iov_base);
    free(iov);
    free(ctl);
    for (int k = 0; k < ntaken; k++)
        close(taken[k]);
    return rc;
}

static int do_sendmmsg(struct nc *n)
{
    const uint64_t *a = n->c->args;
    uint32_t vlen = (uint32_t)a[2] < MAX_MMSG ? (uint32_t)a[2] : MAX_MMSG;
    int sent = 0;
    for (uint32_t i = 0; i < vlen; i++) {
        int r = send_one(n, a[1] + (uint64_t)i * 64, (int)a[3]); /* struct mmsghdr: msghdr (56) + msg_len + pad */
        if (r < 0)
            return sent ? sent : r;
        uint32_t len = (uint32_t)r;
        if (lx_mem_write(n->c->pid, a[1] + (uint64_t)i * 64 + 56, &len, 4) < 0)
            return sent ? sent : -EFAULT;
        sent++;
    }
    return sent;
}

int lx_net_call(struct lx_sup *s, struct lx_call *c, const struct lx_action *a)
{
    (void)a;
    struct lx_net *net = s->net;
    struct nc n = {.s = s, .c = c, .sock = -1};
    int rc;
    if (!net) {
        c->ret = -ENOSYS;
        return 1;
    }
    n.op = c->nr == SYS_connect ? LX_NET_CONNECT : c->nr == SYS_bind ? LX_NET_BIND : LX_NET_SEND;
    if (c->nr == SYS_sendto && c->args[4] == 0) {
        c->cont = 1; /* no address (a register): the connected peer, checked at connect */
        return 0;
    }
    if (allows_all(net, n.op) && !s->paths) {
        c->cont = 1; /* nothing to decide: every socket, every address */
        return 0;
    }
    n.v = lx_view_get(s, c->tid, &rc);
    if (!n.v)
        goto answer;
    n.sock = lx_take_fd(s, c, (int)c->args[0]);
    if (n.sock < 0) {
        rc = n.sock == -EBADF ? -EBADF : n.sock;
        goto answer;
    }
    socklen_t ol = sizeof(int);
    if (getsockopt(n.sock, SOL_SOCKET, SO_DOMAIN, &n.domain, &ol) < 0 ||
        getsockopt(n.sock, SOL_SOCKET, SO_TYPE, &n.type, &ol) < 0) {
        rc = -errno; /* ENOTSOCK, as the kernel answers */
        goto answer;
    }
    int v = fixed_verdict(net, n.op, n.domain);
    if (v > 0) {
        char what[32], fb[16];
        snprintf(what, sizeof(what), "any %s address", family_name(n.domain, fb));
        log_denial(net, n.op, what, c->pid, v);
        rc = -v;
        goto answer;
    }
    /* Performed by the supervisor on the socket it took, even when the family alone
     * allowed it: the kernel would look the fd number up again, and a thread may
     * have dup2()ed another socket onto it meanwhile. */
    switch (c->nr) {
    case SYS_connect:
        rc = do_connect(&n);
        break;
    case SYS_bind:
        rc = do_bind(&n);
        break;
    case SYS_sendto:
        rc = do_sendto(&n);
        break;
    case SYS_sendmsg:
        rc = send_one(&n, c->args[1], (int)c->args[2]);
        break;
    case SYS_sendmmsg:
        rc = do_sendmmsg(&n);
        break;
    default:
        rc = -ENOSYS; /* the policy layer gives this kind to the five calls above only */
    }
answer:
    if (n.sock >= 0)
        close(n.sock);
    for (int i = 0; i < n.nfds; i++)
        close(n.fds[i]);
    c->ret = rc;
    return 1;
}
