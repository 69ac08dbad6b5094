/* Fork+exec storm: N times fork, exec PROG [ARGS...] (a static `true` built beside this
 * program, or e.g. `free -m`), wait. Measures process creation under each runner; a supervisor
 * that follows children pays for every fork, exec and exit event. The children's stdout goes to
 * /dev/null (opened once, before the clock starts): what they print is not the workload's. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PROG N [ARGS...]\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[2], NULL, 10);
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0) {
		perror("/dev/null");
		return 1;
	}
	argv[2] = argv[1];	/* the child's argv: PROG ARGS... */
	long bad = 0;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			dup2(devnull, 1);
			execv(argv[1], argv + 2);
			_exit(127);
		}
		int st;
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("fork+exec x %ld: %s\n", n, bad ? "FAILED" : "ok");
	fprintf(stderr, "LXBENCH ns=%lld ops=%ld\n", ns, n);
	return bad ? 1 : 0;
}
