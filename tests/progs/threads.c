/* Many threads making trapped and untrapped syscalls at once; one thread
 * finally execs (the kernel moves it to the leader's tid). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#define N 8
static long results[N];
static void *work(void *arg)
{
    long id = (long)arg, sum = 0;
    for (int i = 0; i < 2000; i++) {
        sum += getppid() == 1;
        struct utsname u;
        uname(&u);
        sum += strlen(u.release) > 0;
        sum += syscall(SYS_getpid) > 0;
    }
    results[id] = sum;
    return NULL;
}
static void *execer(void *arg)
{
    char *argv[] = {"/bin/echo", "exec-from-thread", NULL};
    execv(argv[0], argv);
    return NULL;
}
int main(int argc, char **argv)
{
    pthread_t t[N];
    for (long i = 0; i < N; i++)
        pthread_create(&t[i], NULL, work, (void *)i);
    long total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        total += results[i];
    }
    printf("total %ld\n", total);
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "exec") == 0) {
        pthread_t e;
        pthread_create(&e, NULL, execer, NULL);
        pthread_join(e, NULL);
    }
    return 0;
}
