#ifndef LX_BLOB_H
#define LX_BLOB_H
#include <stddef.h>
#include "engine.h"

/* A compiled policy as bytes (blob.c): a fixed header (the action table and the
 * uname fields), then tagged sections, each `struct lx_blob_section` followed by
 * `len` bytes and padding to a multiple of 8.  A consumer that meets a tag it
 * does not know refuses the whole blob (-ENOTSUP): it could not do what the
 * policy asks, so it must hand the run to the Python layer instead of running
 * with less.  Each part of the engine that holds compiled state (path rules,
 * network rules, the personality's resource view, ...) owns one tag and one
 * exporter/importer pair in the table in blob.c. */
#define LX_BLOB_MAGIC "LXPOL\0\0\2"
#define LX_BLOB_ABI 2
#define LX_BLOB_MAX (16u << 20) /* 16 MiB: far above any policy; a bound for readers */

/* which uname fields the policy itself emulates ([identity] in TOML) */
enum { LX_UTS_SYSNAME = 1, LX_UTS_NODENAME = 2, LX_UTS_RELEASE = 4, LX_UTS_VERSION = 8,
       LX_UTS_MACHINE = 16, LX_UTS_DOMAINNAME = 32 };

struct lx_blob {
    char magic[8];
    uint32_t abi, size; /* size: the whole blob, header and sections */
    struct lx_action table[LX_NR_MAX];
    struct lx_action dflt;
    uint32_t uts_mask;
    struct lx_utsname uts;
};

/* Section tags.  Add one per kind of compiled state; never reuse a number. */
enum lx_blob_tag {
    LX_SEC_GATE = 1, /* the open pipeline's basename gate (sup->gate) -- reserved */
    LX_SEC_PATHS = 2, /* compiled [[path]] rules */
    LX_SEC_NET = 3,   /* compiled [[network]] rules */
    LX_SEC_PERSONA = 4, /* the personality's resource view served from C */
    LX_SEC_EVENTS = 5,  /* what the sandbox reports as events, and its rules' comments (events.h) */
};

struct lx_blob_section {
    uint32_t tag, len;
};

/* A growable byte buffer the exporters append to. */
struct lx_buf {
    uint8_t *data;
    size_t len, cap;
};
int lx_buf_put(struct lx_buf *b, const void *p, size_t n); /* 0 or -ENOMEM */
void lx_buf_free(struct lx_buf *b);

/* The whole blob, malloc'd into *out (free() it); returns its size or -errno. */
ssize_t lx_blob_export(const struct lx_sup *s, uint32_t uts_mask, void **out);
/* Load a blob into s (validated: magic, ABI, sizes, every section known and
 * well-formed); 0, -EINVAL (malformed), -ENOTSUP (needs the Python layer). */
int lx_blob_import(struct lx_sup *s, const void *buf, size_t len);
/* The header only (uname fields the caller merges itself); NULL if too short. */
const struct lx_blob *lx_blob_header(const void *buf, size_t len);
/* blobcache.c: the cache of compiled policies for the C programs.  The path of the blob
 * for policy `spec` (a built-in name or a .toml path) in `dir`, named by the build, the
 * file's identity and `variant` (what else it was compiled with, e.g. the shape of a
 * personality; "" for the policy alone) (0, or -1 if the file cannot be found); its bytes
 * if it is there, owned by us, not writable by others and well-formed (NULL otherwise). */
int lx_policy_cache_path(const char *dir, const char *spec, const char *variant, char *out, size_t cap);
void *lx_policy_cache_load(const char *dir, const char *path, size_t *len);

/* s->uts: the running host's uname (as seen from this process's UTS namespace)
 * with the fields the policy emulates (b->uts_mask) taken from the blob. */
void lx_blob_apply_uts(struct lx_sup *s, const struct lx_blob *b);
#endif
