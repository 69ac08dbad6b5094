/* A tree of processes that outlives nothing: parent forks children that fork
 * again, each execs /bin/true; prints how many finished. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void)
{
    int done = 0;
    for (int i = 0; i < 20; i++) {
        pid_t p = fork();
        if (p == 0) {
            pid_t q = vfork();
            if (q == 0) {
                execl("/bin/true", "true", (char *)0);
                _exit(127);
            }
            int st;
            waitpid(q, &st, 0);
            _exit(WEXITSTATUS(st));
        }
        int st;
        waitpid(p, &st, 0);
        done += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    printf("done %d\n", done);
    return 0;
}
