/* One network call per run, printed as "<op> <result> [<strerror>]", for the
 * network policy tests; and the check-and-use race:
 *
 *   netcall connect ADDR PORT [tcp|udp|nonblock]   connect (IPv4 or IPv6 literal)
 *   netcall bind ADDR PORT
 *   netcall sendto ADDR PORT                      UDP datagram "x"
 *   netcall sendmsg ADDR PORT                     UDP datagram "x" via sendmsg+msg_name
 *   netcall sendmmsg ADDR PORT                    two datagrams via sendmmsg
 *   netcall unix PATH | abstract NAME             connect a UNIX stream socket
 *   netcall sctp -                                try to create SCTP sockets
 *   netcall fdswap ADDR PORT N                    sendto while a thread swaps the fd between a UNIX and a UDP socket
 *   netcall blockconnect PATH                     a blocking UNIX connect in a thread while this one traps
 *   netcall sendfd SOCK FILE | sendcred SOCK PID UID GID   SCM_RIGHTS / SCM_CREDENTIALS over a UNIX datagram
 *   netcall race MODE GOOD BAD PORT N             MODE connect|sendto|sendmsg: a second thread
 *       flips the sockaddr between GOOD and BAD all the time; N calls; prints
 *       "race ok=<n> denied=<n> other=<n>"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/un.h>
#include <unistd.h>

static int mkaddr(const char *a, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (void *)ss;
    struct sockaddr_in6 *s6 = (void *)ss;
    if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        *len = sizeof(*s4);
        return AF_INET;
    }
    if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        *len = sizeof(*s6);
        return AF_INET6;
    }
    fprintf(stderr, "bad address %s\n", a);
    exit(2);
}

static void report(const char *op, long r)
{
    if (r < 0)
        printf("%s -1 %s\n", op, strerror(errno));
    else
        printf("%s %ld\n", op, r);
    fflush(stdout);
}

static volatile struct sockaddr_in shared;
static struct in_addr good, bad;
static atomic_int stop;

static void *flipper(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        shared.sin_addr = bad;
        shared.sin_addr = good;
    }
    return NULL;
}

static int swap_fd, swap_a, swap_b;

static void *fd_swapper(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        dup2(swap_a, swap_fd);
        dup2(swap_b, swap_fd);
    }
    return NULL;
}

static const char *block_path;

static void *blocking_connect(void *arg)
{
    (void)arg;
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    strncpy(u.sun_path, block_path, sizeof(u.sun_path) - 1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    long r = connect(s, (struct sockaddr *)&u, sizeof(u));
    report("connect", r);
    return NULL;
}

static int race(const char *mode, const char *g, const char *b, int port, int n)
{
    inet_pton(AF_INET, g, &good);
    inet_pton(AF_INET, b, &bad);
    shared.sin_family = AF_INET;
    shared.sin_port = htons(port);
    shared.sin_addr = good;
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    int ok = 0, denied = 0, other = 0, i;
    /* at least n calls, on until both outcomes were seen (at most 10 n) */
    for (i = 0; i < n || ((ok == 0 || denied == 0) && i < 10 * n); i++) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        long r;
        if (!strcmp(mode, "connect")) {
            r = connect(s, (struct sockaddr *)&shared, sizeof(shared));
            if (r == 0)
                r = send(s, "x", 1, 0);
        } else if (!strcmp(mode, "sendto")) {
            r = sendto(s, "x", 1, 0, (struct sockaddr *)&shared, sizeof(shared));
        } else {
            struct iovec iov = {"x", 1};
            struct msghdr m = {.msg_name = (void *)&shared, .msg_namelen = sizeof(shared), .msg_iov = &iov, .msg_iovlen = 1};
            r = sendmsg(s, &m, 0);
        }
        if (r >= 0)
            ok++;
        else if (errno == EACCES)
            denied++;
        else
            other++;
        close(s);
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("race ok=%d denied=%d other=%d n=%d\n", ok, denied, other, i);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *op = argv[1];
    struct sockaddr_storage ss;
    socklen_t len;
    if (!strcmp(op, "fdswap")) {
        /* fdswap ADDR PORT N: sendto(fd, ADDR:PORT) N times while a thread keeps swapping
         * fd between a UNIX datagram socket and a UDP socket (dup2) */
        struct sockaddr_storage a;
        socklen_t alen;
        mkaddr(argv[2], atoi(argv[3]), &a, &alen);
        int n = atoi(argv[4]), ok = 0, denied = 0, other = 0;
        swap_a = socket(AF_UNIX, SOCK_DGRAM, 0);
        swap_b = socket(AF_INET, SOCK_DGRAM, 0);
        swap_fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        pthread_t t;
        pthread_create(&t, NULL, fd_swapper, NULL);
        for (int i = 0; i < n; i++) {
            long r = sendto(swap_fd, "x", 1, 0, (struct sockaddr *)&a, alen);
            if (r >= 0)
                ok++;
            else if (errno == EACCES)
                denied++;
            else
                other++;
        }
        atomic_store(&stop, 1);
        pthread_join(t, NULL);
        printf("fdswap ok=%d denied=%d other=%d\n", ok, denied, other);
        return 0;
    }
    if (!strcmp(op, "blockconnect")) {
        /* blockconnect PATH: a thread connects (blocking) to PATH while this one makes
         * 100 trapped calls and says so; then waits for the connect */
        block_path = argv[2];
        pthread_t t;
        pthread_create(&t, NULL, blocking_connect, NULL);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        long last = 0;
        for (int i = 0; i < 100; i++)
            last = syscall(SYS_getppid);
        printf("trapped calls answered (%ld)\n", last);
        fflush(stdout);
        pthread_join(t, NULL);
        return 0;
    }
    if (!strcmp(op, "race"))
        return race(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]));
    if (!strcmp(op, "unix") || !strcmp(op, "abstract")) {
        struct sockaddr_un u = {.sun_family = AF_UNIX};
        socklen_t ulen;
        if (!strcmp(op, "unix")) {
            strncpy(u.sun_path, argv[2], sizeof(u.sun_path) - 1);
            ulen = sizeof(u);
        } else {
            strncpy(u.sun_path + 1, argv[2], sizeof(u.sun_path) - 2);
            ulen = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(argv[2]);
        }
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        long r = connect(s, (struct sockaddr *)&u, ulen);
        if (r == 0) {
            r = write(s, "hi", 2);  /* proves the program's own socket is the connected one */
        }
        report(op, r);
        return 0;
    }
    if (!strcmp(op, "sendfd") || !strcmp(op, "sendcred")) {
        /* sendfd SOCKPATH FILE: send FILE's fd over a UNIX datagram to SOCKPATH (SCM_RIGHTS);
         * sendcred SOCKPATH PID UID GID: send SCM_CREDENTIALS claiming those ids */
        struct sockaddr_un u = {.sun_family = AF_UNIX};
        strncpy(u.sun_path, argv[2], sizeof(u.sun_path) - 1);
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        union {
            char buf[CMSG_SPACE(sizeof(struct ucred))];
            struct cmsghdr align;
        } c;
        memset(&c, 0, sizeof(c));
        struct iovec iov = {"m", 1};
        struct msghdr m = {.msg_name = &u, .msg_namelen = sizeof(u), .msg_iov = &iov, .msg_iovlen = 1,
                           .msg_control = c.buf};
        struct cmsghdr *cm = (struct cmsghdr *)c.buf;
        cm->cmsg_level = SOL_SOCKET;
        if (!strcmp(op, "sendfd")) {
            int fd = open(argv[3], O_RDONLY);
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &fd, sizeof(int));
            m.msg_controllen = CMSG_SPACE(sizeof(int));
        } else {
            struct ucred cr = {atoi(argv[3]), (uid_t)atoi(argv[4]), (gid_t)atoi(argv[5])};
            if (cr.pid == 0)
                cr.pid = getpid();
            cm->cmsg_type = SCM_CREDENTIALS;
            cm->cmsg_len = CMSG_LEN(sizeof(cr));
            memcpy(CMSG_DATA(cm), &cr, sizeof(cr));
            m.msg_controllen = CMSG_SPACE(sizeof(cr));
        }
        report(op, sendmsg(s, &m, 0));
        return 0;
    }
    if (!strcmp(op, "sctp")) {
        report("sctp_stream", socket(AF_INET, SOCK_STREAM, 132));
        report("sctp_seqpacket", socket(AF_INET6, SOCK_SEQPACKET, 0));
        report("udp", socket(AF_INET, SOCK_DGRAM, 0) >= 0 ? 0 : -1);
        return 0;
    }
    int fam = mkaddr(argv[2], atoi(argv[3]), &ss, &len);
    const char *how = argc > 4 ? argv[4] : "tcp";
    int type = !strcmp(op, "connect") && strcmp(how, "udp") ? SOCK_STREAM : SOCK_DGRAM;
    if (!strcmp(op, "bind"))
        type = SOCK_STREAM;
    int s = socket(fam, type | (!strcmp(how, "nonblock") ? SOCK_NONBLOCK : 0), 0);
    if (s < 0) {
        report("socket", -1);
        return 0;
    }
    long r;
    if (!strcmp(op, "connect")) {
        r = connect(s, (struct sockaddr *)&ss, len);
        if (r < 0 && errno == EINPROGRESS) {
            report("connect", r);
            struct pollfd p = {s, POLLOUT, 0};
            poll(&p, 1, 5000);
            int err = 0;
            socklen_t el = sizeof(err);
            getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
            errno = err;
            r = err ? -1 : 0;
            op = "completed";
            fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
        }
        if (r == 0 && type == SOCK_STREAM) {
            char b[3] = {0};
            if (write(s, "hi", 2) != 2 || read(s, b, 2) != 2)
                r = -1;
            else
                printf("echo %s\n", b);
        }
    } else if (!strcmp(op, "bind")) {
        r = bind(s, (struct sockaddr *)&ss, len);
        if (r == 0) {
            struct sockaddr_storage got;
            socklen_t gl = sizeof(got);
            getsockname(s, (struct sockaddr *)&got, &gl);
            printf("bound port %d\n", ntohs(((struct sockaddr_in *)&got)->sin_port));
        }
    } else if (!strcmp(op, "sendto")) {
        r = sendto(s, "x", 1, 0, (struct sockaddr *)&ss, len);
    } else if (!strcmp(op, "sendmsg")) {
        struct iovec iov = {"x", 1};
        struct msghdr m = {.msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
        r = sendmsg(s, &m, 0);
    } else if (!strcmp(op, "sendmmsg")) {
        struct iovec iov[2] = {{"x", 1}, {"yz", 2}};
        struct mmsghdr mm[2];
        memset(mm, 0, sizeof(mm));
        for (int i = 0; i < 2; i++) {
            mm[i].msg_hdr.msg_name = &ss;
            mm[i].msg_hdr.msg_namelen = len;
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        r = sendmmsg(s, mm, 2, 0);
        if (r == 2)
            printf("lens %u %u\n", mm[0].msg_len, mm[1].msg_len);
    } else {
        return 2;
    }
    report(op, r);
    return 0;
}
