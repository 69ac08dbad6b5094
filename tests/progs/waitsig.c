/* Prints "ready", then reports the first of SIGTERM/SIGUSR1/SIGHUP it gets. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static volatile sig_atomic_t got;
static void h(int s) { got = s; }
int main(void)
{
    signal(SIGTERM, h);
    signal(SIGUSR1, h);
    signal(SIGHUP, h);
    printf("ready\n");
    fflush(stdout);
    while (!got)
        pause();
    printf("got %d\n", (int)got);
    return 0;
}
