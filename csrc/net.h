/* [[network]] rules in the engine: compiled by the policy layer (lxbrand/rules/net.py),
 * decided and performed here, the same on both backends.
 *
 * connect, bind, sendto, sendmsg and sendmmsg are judged by the socket's family,
 * the address (CIDR, port; a UNIX socket's resolved path or abstract name) and
 * the operation (connect, bind, send); rules are tried in order, the first that
 * matches decides, the default when none does.  Under [[path]] rules a UNIX
 * socket's path is a file too: connect and send are judged "write" on it, bind
 * "create" (the family is installed, without rules of its own, for that).
 */
#ifndef LX_NET_H
#define LX_NET_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "match.h"

struct lx_sup;
struct lx_call;
struct lx_action;
struct lx_buf;

enum lx_net_op { LX_NET_CONNECT = 1, LX_NET_BIND = 2, LX_NET_SEND = 4 };
#define LX_NET_ALL 7

struct lx_cidr {
    uint8_t v6;        /* 0: IPv4 (the first 4 bytes of addr), 1: IPv6 */
    uint8_t plen;      /* prefix length */
    uint8_t addr[16];
};

struct lx_net_rule {
    uint8_t allow;
    uint8_t ops;       /* enum lx_net_op bits */
    int32_t err;       /* a deny's errno */
    int32_t family;    /* AF_*: AF_INET means IPv4 addresses, v4-mapped ones too (on
                        * inet6 sockets); AF_INET6 the other IPv6 ones */
    uint32_t ncidr, nports, npaths, nabstract;
    struct lx_cidr *cidr;
    uint16_t *ports;   /* lo, hi pairs */
    struct lx_pattern *paths;    /* globs on the resolved path of a UNIX socket file */
    struct lx_pattern *abstract; /* globs on an abstract name (bytes) */
};

struct lx_net {
    uint8_t default_allow;
    uint8_t log;       /* 1: a denial is reported on stderr (lxbrand: network policy: ...) */
    uint8_t refuse_sctp; /* [[network]] rules exist: SCTP sockets are refused in the filter */
    uint32_t nrules;
    struct lx_net_rule *rules;
    /* blocking connects answered from threads of their own (unotify) */
    pthread_mutex_t lock;
    struct lx_net_job *jobs;
};
struct lx_net_job;

/* Building (the binding, the blob).  0 or -errno. */
int lx_net_new(struct lx_sup *s, int default_allow, int log, int refuse_sctp);
/* one rule: cidr as n (v6, plen, 16 bytes) records, ports as lo,hi pairs, the two
 * pattern lists as token arrays (match.h) */
int lx_net_add(struct lx_sup *s, int allow, unsigned ops, int err, int family, uint32_t ncidr,
               const struct lx_cidr *cidr, uint32_t nports, const uint16_t *ports, uint32_t npaths,
               const void *const *paths, const size_t *plens, uint32_t nabs, const void *const *abs,
               const size_t *alens);
void lx_net_free(struct lx_sup *s);
int lx_net_export(const struct lx_sup *s, struct lx_buf *out);
int lx_net_import(struct lx_sup *s, const uint8_t *p, size_t len);

/* A parsed socket address: family AF_INET (also a v4-mapped IPv6 one), AF_INET6,
 * AF_UNIX (path, abstract name or unnamed), another AF_*, or AF_UNSPEC. */
struct lx_sockaddr {
    int family;
    uint8_t ip[16];    /* AF_INET: the first 4 */
    uint16_t port;
    const char *path;  /* AF_UNIX: the socket file's path (resolved, in the program's view) */
    size_t plen;
    const uint8_t *abstract; /* AF_UNIX: the abstract name (after the NUL) */
    size_t alen;
};
/* The verdict for op on an address: 0 allowed, else the errno (no logging). */
int lx_net_decide(const struct lx_net *n, unsigned op, const struct lx_sockaddr *a);
/* the same, and which rule decided (1 + its index; 0: the default) */
int lx_net_decide_rule(const struct lx_net *n, unsigned op, const struct lx_sockaddr *a, int *which);

/* A trapped call of kind LX_ACT_NET, answered (1) or continued (0). */
int lx_net_call(struct lx_sup *s, struct lx_call *c, const struct lx_action *a);
/* Stop: blocking connects still running are woken and waited for (unotify). */
void lx_net_stop(struct lx_sup *s);
#endif
