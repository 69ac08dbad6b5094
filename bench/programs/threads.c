/* Multi-threaded syscall load: T threads, each N iterations of getppid + open/read/close of
 * /dev/null. Under a supervisor that traps these, the traps of all threads arrive at once. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static long iters;

static void *work(void *unused)
{
	(void)unused;
	long bad = 0;
	char c;
	for (long i = 0; i < iters; i++) {
		if (syscall(SYS_getppid) < 0)
			bad++;
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			bad++;
			continue;
		}
		if (read(fd, &c, 1) != 0)
			bad++;
		close(fd);
	}
	return (void *)bad;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s THREADS N\n", argv[0]);
		return 2;
	}
	int nthreads = atoi(argv[1]);
	iters = strtol(argv[2], NULL, 10);
	pthread_t tids[64];
	if (nthreads < 1 || nthreads > 64)
		return 2;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&tids[i], NULL, work, NULL) != 0) {
			perror("pthread_create");
			return 1;
		}
	long bad = 0;
	for (int i = 0; i < nthreads; i++) {
		void *r;
		pthread_join(tids[i], &r);
		bad += (long)r;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("threads=%d iters=%ld: %s\n", nthreads, iters, bad ? "FAILED" : "ok");
	fprintf(stderr, "LXBENCH ns=%lld ops=%ld\n", ns, nthreads * iters);
	return bad ? 1 : 0;
}
