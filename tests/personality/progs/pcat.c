/* Open files the way a program would and report what it got.
 *   pcat [-d DIR] [-2] [-c] [-f] [-w] PATH...
 * -d DIR: open relative to an fd on DIR (openat dirfd); -2: use openat2(2);
 * -c: O_CLOEXEC; -f: print the fd's FD_CLOEXEC; -w: also try to write to the fd.
 * Prints the content, then "type=reg|other cloexec=N write=ERRNO" lines as asked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct how { uint64_t flags, mode, resolve; };

int main(int argc, char **argv)
{
    int dirfd = AT_FDCWD, use2 = 0, cloexec = 0, showfl = 0, trywrite = 0, opt, rc = 0;
    while ((opt = getopt(argc, argv, "d:2cfw")) != -1) {
        if (opt == 'd') {
            dirfd = open(optarg, O_RDONLY | O_DIRECTORY);
            if (dirfd < 0) { perror(optarg); return 2; }
        } else if (opt == '2') use2 = 1;
        else if (opt == 'c') cloexec = 1;
        else if (opt == 'w') trywrite = 1;
        else if (opt == 'f') showfl = 1;
    }
    for (int i = optind; i < argc; i++) {
        int flags = O_RDONLY | (cloexec ? O_CLOEXEC : 0), fd;
        if (use2) {
            struct how h = {flags, 0, 0};
            fd = (int)syscall(SYS_openat2, dirfd, argv[i], &h, sizeof(h));
        } else {
            fd = openat(dirfd, argv[i], flags);
        }
        if (fd < 0) { printf("%s: errno=%d\n", argv[i], errno); rc = 1; continue; }
        char buf[7];  /* small reads: a served file must behave like a file across reads */
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            fwrite(buf, 1, (size_t)n, stdout);
        struct stat st;
        fstat(fd, &st);
        if (showfl)
            printf("cloexec=%d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? 1 : 0);
        if (trywrite)
            printf("write=%d\n", write(fd, "x", 1) < 0 ? errno : 0);
        close(fd);
    }
    return rc;
}
