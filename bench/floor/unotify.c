/* Floor for a trap answered by a user-space supervisor through seccomp user notification:
 * the least work any such supervisor can do (RECV, answer 1, SEND), nothing else.
 *
 *   unotify [--no-sync] PROG ARGS...
 *
 * The child installs a filter that stops getppid with SECCOMP_RET_USER_NOTIF, hands the
 * listener fd to the parent over a socketpair (SCM_RIGHTS; the fd is O_CLOEXEC, see
 * seccomp_unotify(2)) and execs PROG. A thread of the parent answers every notification with
 * val = 1; the main thread waits for the child and exits as it did.
 *
 * Unless --no-sync, the listener gets SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (kernel 6.6,
 * commit 48a1084a8b74 "seccomp: add the synchronous mode for seccomp_unotify"), which makes the
 * kernel hand the CPU straight from the trapped thread to the supervisor and back instead of a
 * cross-CPU wake-up. Older headers lack it, hence the local definitions. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "filter.h"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

static int send_fd(int sock, int fd)
{
	char dummy = 'F';
	struct iovec iov = { .iov_base = &dummy, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char dummy;
	struct iovec iov = { .iov_base = &dummy, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static void *answer_loop(void *arg)
{
	int fd = (int)(long)arg;
	struct seccomp_notif_sizes sz;
	if (syscall(__NR_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0) {
		perror("floor: SECCOMP_GET_NOTIF_SIZES");
		return NULL;
	}
	struct seccomp_notif *req = calloc(1, sz.seccomp_notif);
	struct seccomp_notif_resp *resp = calloc(1, sz.seccomp_notif_resp);
	for (;;) {
		memset(req, 0, sz.seccomp_notif);
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			return NULL;
		}
		memset(resp, 0, sz.seccomp_notif_resp);
		resp->id = req->id;
		resp->val = 1;
		/* ENOENT: the caller died or was interrupted meanwhile; nothing to answer. */
		ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp);
	}
}

int main(int argc, char **argv)
{
	int sync = 1, argi = 1;
	if (argc > 1 && strcmp(argv[1], "--no-sync") == 0) {
		sync = 0;
		argi++;
	}
	if (argi >= argc) {
		fprintf(stderr, "usage: %s [--no-sync] PROG ARGS...\n", argv[0]);
		return 2;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("floor: socketpair");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("floor: fork");
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		int fd = floor_install(SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
		if (fd < 0 || send_fd(sv[1], fd) < 0)
			_exit(126);
		close(fd);
		execvp(argv[argi], &argv[argi]);
		perror("floor: exec");
		_exit(127);
	}
	close(sv[1]);
	int fd = recv_fd(sv[0]);
	if (fd < 0) {
		int st;
		waitpid(pid, &st, 0);
		fprintf(stderr, "floor: no listener fd from child\n");
		floor_exit_like(st);
	}
	int synced = 0;
	if (sync) {
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0)
			synced = 1;
		/* EINVAL/ENOTTY: kernel before 6.6; run without, and say so below. */
	}
	fprintf(stderr, "LXBENCH floor=unotify sync_wake_up=%d\n", synced);
	pthread_t t;
	if (pthread_create(&t, NULL, answer_loop, (void *)(long)fd) != 0) {
		fprintf(stderr, "floor: pthread_create failed\n");
		kill(pid, SIGKILL);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	floor_exit_like(st);
}
