/* Shared by the two floors: a seccomp filter that stops getppid and nothing else.
 * It checks seccomp_data.arch first, as every real filter must (seccomp(2), "Pitfalls"). */
#ifndef LXBENCH_FLOOR_FILTER_H
#define LXBENCH_FLOOR_FILTER_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Install the filter; RET is SECCOMP_RET_USER_NOTIF or SECCOMP_RET_TRACE. Returns the
 * listener fd for USER_NOTIF (flags = SECCOMP_FILTER_FLAG_NEW_LISTENER), 0 otherwise, or -1. */
static int floor_install(unsigned int ret, unsigned int flags)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, ret),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		perror("floor: PR_SET_NO_NEW_PRIVS");
		return -1;
	}
	long r = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (r < 0)
		perror("floor: seccomp");
	return (int)r;
}

/* Leave the way the program left: same exit code, or death by the same signal. */
static void floor_exit_like(int status)
{
	if (WIFSIGNALED(status)) {
		signal(WTERMSIG(status), SIG_DFL);
		raise(WTERMSIG(status));
		_exit(128 + WTERMSIG(status));
	}
	_exit(WEXITSTATUS(status));
}

#endif
