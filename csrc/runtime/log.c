/* The runtime's --log file: one line per error, JSON (what containerd reads with
 * --log-format json, showing the user the last {"level":"error"} line) or logrus' text
 * format.  Shared by the runtime's C front end and the container supervisor. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

void rt_log_error(const char *path, const char *format, const char *msg)
{
    if (!path)
        return;
    FILE *f = fopen(path, "ae");
    if (!f)
        return;
    char ts[32];
    time_t now = time(NULL);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (format && strcmp(format, "json") == 0) {
        fputs("{\"level\": \"error\", \"msg\": \"", f);
        for (const char *p = msg; *p; p++) {
            if (*p == '"' || *p == '\\')
                fputc('\\', f);
            if ((unsigned char)*p >= 0x20)
                fputc(*p, f);
        }
        fprintf(f, "\", \"time\": \"%s\"}\n", ts);
    } else {
        fprintf(f, "time=\"%s\" level=error msg=\"%s\"\n", ts, msg);
    }
    fclose(f);
}
