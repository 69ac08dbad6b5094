/* Dies by the signal named in argv[1] (or exits with argv[2]). */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    if (argc > 2)
        return atoi(argv[2]);
    signal(atoi(argv[1]), SIG_DFL);
    kill(getpid(), atoi(argv[1]));
    pause();
    return 99;
}
