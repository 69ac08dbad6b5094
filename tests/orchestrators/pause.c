/* The pod sandbox's process (what Kubernetes' pause image runs): hold the pod's namespaces
 * open, reap orphans it inherits as pid 1 of a shared pid namespace, exit 0 on SIGINT/SIGTERM.
 * Built static by .ci/setup-orchestrators.sh into the local image lxbrand-test/pause:3.9, so
 * the CRI tests need no registry. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }

static void reap(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int main(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = quit;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;)
        pause();
}
