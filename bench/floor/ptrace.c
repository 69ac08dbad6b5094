/* Floor for a trap answered by a ptrace supervisor: SECCOMP_RET_TRACE stops getppid, the tracer
 * skips it (orig_rax = -1) with rax = 1 and continues: GETREGS, SETREGS, CONT, the least a
 * tracer that answers a call can do.
 *
 *   ptrace PROG ARGS...
 *
 * One process only: children are not followed (no PTRACE_O_TRACEFORK), so the floor is meant for
 * the single-process getppid loop. See ptrace(2), "PTRACE_EVENT_SECCOMP stops". */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "filter.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PROG ARGS...\n", argv[0]);
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("floor: fork");
		return 1;
	}
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
			_exit(126);
		raise(SIGSTOP);
		if (floor_install(SECCOMP_RET_TRACE, 0) < 0)
			_exit(126);
		execvp(argv[1], &argv[1]);
		perror("floor: exec");
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) {
		fprintf(stderr, "floor: child did not stop\n");
		return 1;
	}
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL);
	ptrace(PTRACE_CONT, pid, 0, 0);
	fprintf(stderr, "LXBENCH floor=ptrace\n");
	for (;;) {
		if (waitpid(pid, &st, 0) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			floor_exit_like(st);
		int sig = WSTOPSIG(st);
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
			struct user_regs_struct regs;
			ptrace(PTRACE_GETREGS, pid, 0, &regs);
			regs.orig_rax = -1;
			regs.rax = 1;
			ptrace(PTRACE_SETREGS, pid, 0, &regs);
			sig = 0;
		} else if (sig == SIGTRAP) {
			sig = 0;	/* the legacy SIGTRAP after execve (no PTRACE_O_TRACEEXEC) */
		}
		ptrace(PTRACE_CONT, pid, 0, sig);
	}
}
