/* Syscall micro-loop: MODE N [PATH]. Calls one syscall N times through syscall(2) (never a libc
 * cache) and reports the loop's own time on stderr, so the per-call cost excludes the start-up of
 * whatever runs it (lxrun, strace, proot, a container).
 *   getpid, getppid   the call alone
 *   openat            openat(PATH, O_RDONLY|O_CLOEXEC) + close (PATH: /dev/null)
 *   stat              newfstatat(AT_FDCWD, PATH, &st, 0) (PATH: /dev/null)
 *   connect           socket + connect + close of a UDP socket, to a loopback port of its own (bound
 *                     before the timed loop; a UDP connect only sets the peer, so the loop measures
 *                     what deciding on the address costs, not TCP's handshake)
 * stdout carries only what must equal the native run: the mode and count, never a syscall
 * result (an emulated getppid answers 1 where the native one answers the real parent); how
 * many calls returned 1 goes to stderr with the timing. */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s getpid|getppid|openat|stat|connect N [PATH]\n", argv[0]);
		return 2;
	}
	const char *path = argc == 4 ? argv[3] : "/dev/null";
	int lsn = -1;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	long nr;
	if (strcmp(argv[1], "getpid") == 0)
		nr = SYS_getpid;
	else if (strcmp(argv[1], "getppid") == 0)
		nr = SYS_getppid;
	else if (strcmp(argv[1], "openat") == 0)
		nr = SYS_openat;	/* openat(PATH) + close: a call with a path to decode */
	else if (strcmp(argv[1], "stat") == 0)
		nr = SYS_newfstatat;
	else if (strcmp(argv[1], "connect") == 0) {
		nr = SYS_connect;
		socklen_t len = sizeof(sin);
		lsn = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (lsn < 0 || bind(lsn, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    getsockname(lsn, (struct sockaddr *)&sin, &len) < 0) {
			perror("loop: listener");
			return 1;
		}
	} else {
		fprintf(stderr, "loop: unknown mode %s\n", argv[1]);
		return 2;
	}
	long n = strtol(argv[2], NULL, 10);
	long bad = 0, ones = 0;
	long long t0 = now_ns();
	for (long i = 0; i < n; i++) {
		long r;
		if (nr == SYS_openat) {
			r = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
			if (r >= 0)
				close((int)r);
			r = r >= 0 ? 0 : r;
		} else if (nr == SYS_newfstatat) {
			struct stat st;
			r = syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0);
		} else if (nr == SYS_connect) {
			int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			r = s < 0 ? -1 : syscall(SYS_connect, s, &sin, sizeof(sin));
			if (s >= 0)
				close(s);
		} else {
			r = syscall(nr);
		}
		if (r < 0)
			bad++;
		else if (r == 1)
			ones++;
	}
	long long t1 = now_ns();
	printf("%s x %ld: %s\n", argv[1], n, bad ? "FAILED" : "ok");
	/* ones: calls that returned 1, i.e. were answered by an emulating policy (a real getppid
	 * returns 1 only under init); the harness checks it where a policy should answer. */
	fprintf(stderr, "LXBENCH ns=%lld ops=%ld ones=%ld\n", t1 - t0, n, ones);
	return bad ? 1 : 0;
}
