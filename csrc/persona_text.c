/* The personality's files, rendered from the host's own text (persona.h).
 *
 * Pure functions: the host's file in, the sandbox's out.  Each keeps every byte of
 * the host's file that does not carry a value the view changes, so a reader sees the
 * running kernel's keys, order, padding and units (a program that parses
 * /proc/meminfo by column, or /proc/cpuinfo by key, works as on the host). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persona.h"

int lx_pv_printf(struct lx_buf *out, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof(small))
        return lx_buf_put(out, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = lx_buf_put(out, big, (size_t)n);
    free(big);
    return rc;
}

static int put_str(struct lx_buf *out, const char *s) { return lx_buf_put(out, s, strlen(s)); }

/* The next line of [p, end): sets *len (without the '\n'); returns the start of the
 * line after it, or NULL when p is at end. */
static const char *next_line(const char *p, const char *end, size_t *len)
{
    if (p >= end)
        return NULL;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *len = (size_t)((nl ? nl : end) - p);
    return nl ? nl + 1 : end;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* -- /proc/meminfo ---------------------------------------------------------------- */

/* Keys that describe address space or page sizes, not memory in use: the host's. */
static const char *const MEM_KEEP[] = {"VmallocTotal", "VmallocUsed", "VmallocChunk", "Hugepagesize", "Hugetlb",
                                       "DirectMap4k", "DirectMap2M", "DirectMap1G", "Percpu", NULL};
/* Caches, buffers, swap and kernel memory: none of it is the sandbox's. */
static const char *const MEM_ZERO[] = {"Buffers", "Cached", "SwapCached", "SwapTotal", "SwapFree", "Inactive",
                                       "Inactive(anon)", "Active(file)", "Inactive(file)", "Mapped", "Shmem",
                                       "Zswap", "Zswapped", "Dirty", "Writeback", "Slab", "SReclaimable",
                                       "SUnreclaim", "KReclaimable", NULL};

static int in_list(const char *const *list, const char *key, size_t klen)
{
    for (; *list; list++)
        if (strlen(*list) == klen && memcmp(*list, key, klen) == 0)
            return 1;
    return 0;
}

/* One "Key:   value[ kB]" line: the key's length, the value and whether it is in kB;
 * 0 if the line has another shape (the kernel's own lines all have this one). */
static int mem_line(const char *l, size_t len, size_t *klen, unsigned long long *val, int *kb)
{
    const char *colon = memchr(l, ':', len);
    if (!colon || colon == l)
        return 0;
    const char *p = colon + 1, *end = l + len;
    while (p < end && (is_space(*p) || *p == '\n'))
        p++;
    if (p == end || *p < '0' || *p > '9')
        return 0;
    unsigned long long v = 0;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (unsigned)(*p++ - '0');
    *kb = 0;
    if (end - p == 3 && memcmp(p, " kB", 3) == 0)
        *kb = 1;
    else if (p != end)
        return 0;
    *klen = (size_t)(colon - l);
    *val = v;
    return 1;
}

static unsigned long long mem_value(const char *host, size_t n, const char *key, unsigned long long dflt)
{
    const char *p = host, *end = host + n, *line;
    size_t len, klen;
    unsigned long long v;
    int kb;
    while ((line = p, p = next_line(p, end, &len)))
        if (mem_line(line, len, &klen, &v, &kb) && klen == strlen(key) && memcmp(line, key, klen) == 0)
            return v;
    return dflt;
}

/* mm/meminfo.c show_val_kb(): a label padded to 16 columns and the value to 8 (a
 * longer label such as "HardwareCorrupted: " keeps the value ending in column 24); a
 * wider value pushes " kB" right, as %8lu does. */
static int mem_put(struct lx_buf *out, const char *key, size_t klen, unsigned long long v)
{
    int width;
    if (klen < 15) {
        width = 8;
        return lx_pv_printf(out, "%.*s:%*s%*llu kB", (int)klen, key, (int)(15 - klen), "", width, v);
    }
    width = 24 - (int)(klen + 2);
    return lx_pv_printf(out, "%.*s: %*llu kB", (int)klen, key, width, v);
}

int lx_pv_meminfo(const char *host, size_t n, uint64_t limit_kb, uint64_t used_kb, struct lx_buf *out)
{
    unsigned long long total = mem_value(host, n, "MemTotal", 1ull << 62);
    if (limit_kb < total)
        total = limit_kb;
    unsigned long long used = used_kb < total ? used_kb : total, free_kb = total - used;
    unsigned long long avail = mem_value(host, n, "MemAvailable", free_kb);
    if (avail > free_kb)
        avail = free_kb;
    const char *p = host, *end = host + n, *line;
    size_t len;
    int rc = 0, first = 1;
    while (rc == 0 && (line = p, p = next_line(p, end, &len))) {
        if (!first)
            rc = lx_buf_put(out, "\n", 1);
        first = 0;
        size_t klen;
        unsigned long long v;
        int kb;
        if (rc || !mem_line(line, len, &klen, &v, &kb) || !kb || in_list(MEM_KEEP, line, klen)) {
            rc = rc ? rc : lx_buf_put(out, line, len); /* counts (HugePages_*) and address space */
            continue;
        }
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
        if (KEY("MemTotal"))
            rc = mem_put(out, line, klen, total);
        else if (KEY("MemFree"))
            rc = mem_put(out, line, klen, free_kb);
        else if (KEY("MemAvailable"))
            rc = mem_put(out, line, klen, avail);
        else if (KEY("Active") || KEY("Active(anon)") || KEY("AnonPages"))
            rc = mem_put(out, line, klen, used);
        else if (in_list(MEM_ZERO, line, klen))
            rc = mem_put(out, line, klen, 0);
        else if (v > total)
            rc = mem_put(out, line, klen, total); /* a size over the limit is capped at it */
        else
            rc = lx_buf_put(out, line, len); /* the host's line byte for byte */
#undef KEY
    }
    /* the text after the last newline ("" for the kernel's file) ends it */
    if (rc == 0 && n && host[n - 1] == '\n')
        rc = lx_buf_put(out, "\n", 1);
    return rc;
}

/* -- /proc/cpuinfo ------------------------------------------------------------------ */

/* "KEY<spaces>:<spaces>DIGITS" at the start of a line: the offsets of the digits */
static int key_digits(const char *l, size_t len, const char *key, size_t *d0, size_t *d1)
{
    size_t k = strlen(key), i;
    if (len < k || memcmp(l, key, k) != 0)
        return 0;
    for (i = k; i < len && is_space(l[i]); i++)
        ;
    if (i == len || l[i] != ':')
        return 0;
    for (i++; i < len && is_space(l[i]); i++)
        ;
    if (i == len || l[i] < '0' || l[i] > '9')
        return 0;
    *d0 = i;
    while (i < len && l[i] >= '0' && l[i] <= '9')
        i++;
    *d1 = i;
    return 1;
}

int lx_pv_cpuinfo(const char *host, size_t n, const int *cpu_ids, int ncpu, struct lx_buf *out)
{
    int rc = 0, any = 0;
    for (int i = 0; rc == 0 && i < ncpu; i++) {
        /* the block ("\n\n"-separated) whose first line is "processor : cpu_ids[i]" */
        const char *b = host, *end = host + n, *blk = NULL, *bend = NULL;
        while (b < end) {
            const char *sep = memmem(b, (size_t)(end - b), "\n\n", 2);
            const char *e = sep ? sep : end;
            size_t d0, d1;
            if (key_digits(b, (size_t)(e - b), "processor", &d0, &d1) && atoi(b + d0) == cpu_ids[i]) {
                blk = b;
                bend = e;
                break;
            }
            b = sep ? sep + 2 : end;
        }
        if (!blk)
            continue;
        while (blk < bend && *blk == '\n')
            blk++;
        if (any)
            rc = lx_buf_put(out, "\n\n", 2);
        any = 1;
        /* renumbered from 0, one package of ncpu cores */
        const char *p = blk, *line;
        size_t len;
        int firstl = 1;
        while (rc == 0 && (line = p, p = next_line(p, bend, &len))) {
            if (!firstl)
                rc = lx_buf_put(out, "\n", 1);
            firstl = 0;
            size_t d0, d1;
            long v = -1;
            if (key_digits(line, len, "processor", &d0, &d1) || key_digits(line, len, "core id", &d0, &d1))
                v = i;
            else if (key_digits(line, len, "siblings", &d0, &d1) || key_digits(line, len, "cpu cores", &d0, &d1))
                v = ncpu;
            if (rc == 0 && v >= 0)
                rc = lx_pv_printf(out, "%.*s%ld%.*s", (int)d0, line, v, (int)(len - d1), line + d1);
            else if (rc == 0)
                rc = lx_buf_put(out, line, len);
        }
    }
    return rc ? rc : lx_buf_put(out, "\n\n", 2);
}

/* -- /proc/stat ------------------------------------------------------------------------ */

#define STAT_COLS 16

/* the numbers of a "cpuN a b c ..." line after its name, at most STAT_COLS */
static int stat_cols(const char *p, const char *end, unsigned long long *v)
{
    int k = 0;
    while (p < end && k < STAT_COLS) {
        while (p < end && *p == ' ')
            p++;
        if (p == end)
            break;
        char *e;
        v[k++] = strtoull(p, &e, 10);
        if (e == p)
            return -EINVAL;
        p = e;
    }
    return k;
}

int lx_pv_stat(const char *host, size_t n, const int *cpu_ids, int ncpu, long long btime, struct lx_buf *out)
{
    const char *end = host + n, *p, *line;
    size_t len;
    unsigned long long sum[STAT_COLS] = {0};
    int cols = -1, shown = 0, rc = 0;
    /* the shown CPUs' lines, in the order of cpu_ids */
    for (int i = 0; i < ncpu; i++) {
        for (p = host; (line = p, p = next_line(p, end, &len));) {
            char *e;
            if (len < 4 || memcmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
                continue;
            long id = strtol(line + 3, &e, 10);
            if (id != cpu_ids[i] || e >= line + len || *e != ' ')
                continue;
            unsigned long long v[STAT_COLS];
            int k = stat_cols(e, line + len, v);
            if (k < 0)
                return k;
            cols = cols < 0 || k < cols ? k : cols; /* columns all shown lines have */
            for (int j = 0; j < k && j < STAT_COLS; j++)
                sum[j] += v[j];
            shown++;
            break;
        }
    }
    int wrote_cpus = 0;
    for (p = host; rc == 0 && (line = p, p = next_line(p, end, &len));) {
        if (len >= 3 && memcmp(line, "cpu", 3) == 0 && (len == 3 || line[3] == ' ')) {
            /* the aggregate: the shown CPUs' sum, then their lines renumbered from 0 */
            if (shown) {
                rc = put_str(out, "cpu ");
                for (int j = 0; rc == 0 && j < cols; j++)
                    rc = lx_pv_printf(out, " %llu", sum[j]);
            } else {
                rc = lx_buf_put(out, line, len);
            }
            if (rc == 0)
                rc = lx_buf_put(out, "\n", 1);
            int k = 0;
            for (int i = 0; rc == 0 && i < ncpu; i++) {
                const char *q = host, *l2;
                size_t len2;
                while ((l2 = q, q = next_line(q, end, &len2))) {
                    char *e;
                    if (len2 < 4 || memcmp(l2, "cpu", 3) != 0 || l2[3] < '0' || l2[3] > '9')
                        continue;
                    if (strtol(l2 + 3, &e, 10) != cpu_ids[i] || e >= l2 + len2 || *e != ' ')
                        continue;
                    unsigned long long v[STAT_COLS];
                    int m = stat_cols(e, l2 + len2, v);
                    rc = lx_pv_printf(out, "cpu%d", k++);
                    for (int j = 0; rc == 0 && j < m; j++)
                        rc = lx_pv_printf(out, " %llu", v[j]);
                    if (rc == 0)
                        rc = lx_buf_put(out, "\n", 1);
                    break;
                }
            }
            wrote_cpus = 1;
        } else if (len >= 4 && memcmp(line, "cpu", 3) == 0 && line[3] >= '0' && line[3] <= '9') {
            continue; /* a host CPU: shown above (renumbered) or hidden */
        } else if (len >= 6 && memcmp(line, "btime ", 6) == 0) {
            rc = lx_pv_printf(out, "btime %lld\n", btime); /* the sandbox "booted" when it started */
        } else if (len || p < end) {
            rc = lx_buf_put(out, line, len);
            if (rc == 0)
                rc = lx_buf_put(out, "\n", 1);
        }
    }
    (void)wrote_cpus;
    return rc;
}

/* -- /proc/uptime, /proc/loadavg, the CPU ranges ------------------------------------- */

int lx_pv_uptime(const char *host, size_t n, double up, int ncpu, int host_ncpu, struct lx_buf *out)
{
    char text[128];
    size_t m = n < sizeof(text) - 1 ? n : sizeof(text) - 1;
    memcpy(text, host, m);
    text[m] = '\0';
    double host_up = 0, host_idle = 0;
    if (sscanf(text, "%lf %lf", &host_up, &host_idle) != 2)
        return -EINVAL;
    /* the idle share of the host's CPUs, for the shown ones over the sandbox's life */
    double frac = host_up > 0 && host_ncpu > 0 ? host_idle / (host_up * host_ncpu) : 0.0;
    double idle = up * ncpu * (frac < 1.0 ? frac : 1.0);
    return lx_pv_printf(out, "%.2f %.2f\n", up, idle);
}

int lx_pv_loadavg(const char *host, size_t n, int ncpu, unsigned tasks, struct lx_buf *out)
{
    /* "1.40 1.15 0.66 2/131 8630": loads capped at the CPU count, running/total the
     * sandbox's threads (running capped at that), the last pid the host's */
    const char *p = host, *end = host + n;
    int field = 0, rc = 0;
    while (rc == 0 && p < end) {
        while (p < end && (is_space(*p) || *p == '\n'))
            p++;
        if (p == end)
            break;
        const char *w = p;
        while (p < end && !is_space(*p) && *p != '\n')
            p++;
        size_t wl = (size_t)(p - w);
        if (field)
            rc = lx_buf_put(out, " ", 1);
        if (rc)
            break;
        char tok[64];
        size_t tl = wl < sizeof(tok) - 1 ? wl : sizeof(tok) - 1;
        memcpy(tok, w, tl);
        tok[tl] = '\0';
        const char *slash = field == 3 ? memchr(w, '/', wl) : NULL;
        if (field < 3) {
            double v = strtod(tok, NULL);
            rc = lx_pv_printf(out, "%.2f", v < ncpu ? v : (double)ncpu);
        } else if (slash) {
            long running = strtol(tok, NULL, 10);
            if (running > (long)tasks)
                running = (long)tasks;
            rc = lx_pv_printf(out, "%ld/%u", running < 1 ? 1 : running, tasks);
        } else {
            rc = lx_buf_put(out, w, wl);
        }
        field++;
    }
    return rc ? rc : lx_buf_put(out, "\n", 1);
}

int lx_pv_cpu_range(int ncpu, struct lx_buf *out)
{
    return ncpu == 1 ? put_str(out, "0\n") : lx_pv_printf(out, "0-%d\n", ncpu - 1);
}

int lx_pv_cpu_list(const char *text, int *ids, int cap)
{
    int n = 0;
    const char *p = text;
    while (*p && *p != '\n') {
        char *e;
        long lo = strtol(p, &e, 10), hi = lo;
        if (e == p || lo < 0)
            return -EINVAL;
        p = e;
        if (*p == '-') {
            hi = strtol(p + 1, &e, 10);
            if (e == p + 1 || hi < lo)
                return -EINVAL;
            p = e;
        }
        for (long c = lo; c <= hi; c++, n++)
            if (n < cap)
                ids[n] = (int)c;
        if (*p == ',')
            p++;
        else if (*p && *p != '\n')
            return -EINVAL;
    }
    return n;
}

/* -- /proc/version ---------------------------------------------------------------------- */

/* Replace the first occurrence of `from` in *buf (NUL-terminated, malloc'd) by `to`. */
static int replace_first(char **buf, const char *from, const char *to)
{
    char *at = *from ? strstr(*buf, from) : NULL;
    if (!at)
        return 0;
    size_t fl = strlen(from), tl = strlen(to), bl = strlen(*buf);
    char *n = malloc(bl - fl + tl + 1);
    if (!n)
        return -ENOMEM;
    size_t pre = (size_t)(at - *buf);
    memcpy(n, *buf, pre);
    memcpy(n + pre, to, tl);
    memcpy(n + pre + tl, at + fl, bl - pre - fl + 1);
    free(*buf);
    *buf = n;
    return 0;
}

int lx_pv_proc_version(const char *host, size_t n, const char *host_sysname, const char *host_release,
                       const char *host_version, const struct lx_utsname *ident, struct lx_buf *out)
{
    /* fs/proc/version.c: "%s version %s (%s) %s\n" (sysname, release, builder and
     * compiler, version): the host's line with release and version replaced, so the
     * builder and compiler stay the host's */
    char *line;
    if (n)
        line = strndup(host, n);
    else if (asprintf(&line, "Linux version %s %s\n", host_release, host_version) < 0)
        line = NULL;
    if (!line)
        return -ENOMEM;
    char *from = NULL, *to = NULL;
    int rc = -ENOMEM;
    if (asprintf(&from, "%s version %s ", host_sysname, host_release) >= 0 &&
        asprintf(&to, "%s version %s ", ident->sysname, ident->release) >= 0) {
        rc = replace_first(&line, from, to);
        if (rc == 0)
            rc = replace_first(&line, host_version, ident->version);
        if (rc == 0)
            rc = put_str(out, line);
    }
    free(from);
    free(to);
    free(line);
    return rc;
}
