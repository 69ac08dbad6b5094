/* Compiled policies cached by the Python policy layer for the C programs (lxrun's front
 * end, the OCI runtime's create): a blob per policy spec, named by the build and the
 * policy file's identity, trusted only when owned by us and not writable by others (the
 * content is validated too: blob.c).  The Python layer writes one where the C program
 * asked for it (lxbrand/fastpath.py), never for a policy that needs Python at run time. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"

#ifndef LX_BUILD_ID
#define LX_BUILD_ID "dev"
#endif

/* FNV-1a, enough to name a cache file (the content is validated, not trusted by name) */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

static int safe_owned(const struct stat *st)
{
    return st->st_uid == geteuid() && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

int lx_policy_cache_path(const char *dir, const char *spec, const char *variant, char *out, size_t cap)
{
    uint64_t h = fnv(0xcbf29ce484222325ull, LX_BUILD_ID, sizeof(LX_BUILD_ID));
    if (variant && *variant)
        h = fnv(h, variant, strlen(variant) + 1); /* what else the blob was compiled with */
    size_t len = strlen(spec);
    int builtin = !strchr(spec, '/') && !(len > 5 && strcmp(spec + len - 5, ".toml") == 0);
    if (builtin) {
        h = fnv(h, "builtin:", 8);
        h = fnv(h, spec, len + 1);
#ifdef LX_PROFILE_DIR
        /* An editable install reads the profiles from the checkout it was built from:
         * an edited profile must not be answered from the old table.  (A wheel's
         * build-time directory is gone after the build; its files never change.) */
        char prof[PATH_MAX];
        struct stat pst;
        snprintf(prof, sizeof(prof), "%s/%s.toml", LX_PROFILE_DIR, spec);
        if (stat(prof, &pst) == 0) {
            h = fnv(h, &pst.st_mtim, sizeof(pst.st_mtim));
            h = fnv(h, &pst.st_size, sizeof(pst.st_size));
            h = fnv(h, &pst.st_ino, sizeof(pst.st_ino));
        }
#endif
    } else {
        char real[PATH_MAX];
        struct stat st;
        if (!realpath(spec, real) || stat(real, &st) < 0)
            return -1;
        h = fnv(h, "file:", 5);
        h = fnv(h, real, strlen(real) + 1);
        h = fnv(h, &st.st_dev, sizeof(st.st_dev));
        h = fnv(h, &st.st_ino, sizeof(st.st_ino));
        h = fnv(h, &st.st_size, sizeof(st.st_size));
        h = fnv(h, &st.st_mtim, sizeof(st.st_mtim));
        h = fnv(h, &st.st_ctim, sizeof(st.st_ctim));
    }
    snprintf(out, cap, "%s/%016llx.pol", dir, (unsigned long long)h);
    return 0;
}

void *lx_policy_cache_load(const char *dir, const char *path, size_t *len)
{
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || !safe_owned(&st))
        return NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    void *b = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && safe_owned(&st) && st.st_size >= (off_t)sizeof(struct lx_blob) &&
        st.st_size <= (off_t)LX_BLOB_MAX && (b = malloc((size_t)st.st_size)) &&
        read(fd, b, (size_t)st.st_size) == (ssize_t)st.st_size && lx_blob_header(b, (size_t)st.st_size)) {
        *len = (size_t)st.st_size;
    } else {
        free(b);
        b = NULL;
    }
    close(fd);
    return b;
}

