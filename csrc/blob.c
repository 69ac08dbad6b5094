/* A compiled policy as bytes: the action table, the emulated uname fields and
 * tagged sections of compiled state (blob.h).
 *
 * The Python policy layer is the only producer (it validates and compiles the
 * policy); C consumers (lxrun's front end, the OCI runtime's supervisor) load
 * it so that a run whose policy needs no Python handler does not start Python.
 * The blob is tied to the build that wrote it (LX_BLOB_ABI and the cache key,
 * which contains the build id). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "blob.h"
#include "events.h"
#include "net.h"
#include "paths.h"
#include "persona.h"

int lx_buf_put(struct lx_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return -ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void lx_buf_free(struct lx_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* One row per section tag: export appends the section's payload to `out` (nothing
 * appended: no section), import loads a payload.  Both return 0 or -errno. */
struct lx_section_ops {
    uint32_t tag;
    int (*export)(const struct lx_sup *s, struct lx_buf *out);
    int (*import)(struct lx_sup *s, const uint8_t *p, size_t len);
};

static const struct lx_section_ops SECTIONS[] = {
    {LX_SEC_PATHS, lx_paths_export, lx_paths_import},
    {LX_SEC_NET, lx_net_export, lx_net_import},
    {LX_SEC_PERSONA, lx_persona_export, lx_persona_import},
    {LX_SEC_EVENTS, lx_events_export, lx_events_import},
};

static const struct lx_section_ops *section_ops(uint32_t tag)
{
    for (size_t i = 0; i < sizeof(SECTIONS) / sizeof(SECTIONS[0]); i++)
        if (SECTIONS[i].tag == tag && SECTIONS[i].import)
            return &SECTIONS[i];
    return NULL;
}

ssize_t lx_blob_export(const struct lx_sup *s, uint32_t uts_mask, void **out)
{
    struct lx_buf b = {0};
    struct lx_blob h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, LX_BLOB_MAGIC, sizeof(h.magic));
    h.abi = LX_BLOB_ABI;
    memcpy(h.table, s->table, sizeof(h.table));
    h.dflt = s->dflt;
    h.uts_mask = uts_mask;
    h.uts = s->uts;
    int rc = lx_buf_put(&b, &h, sizeof(h));
    for (size_t i = 0; rc == 0 && i < sizeof(SECTIONS) / sizeof(SECTIONS[0]); i++) {
        if (!SECTIONS[i].export)
            continue;
        struct lx_buf sec = {0};
        rc = SECTIONS[i].export(s, &sec);
        if (rc == 0 && sec.len) {
            static const uint8_t pad[8];
            struct lx_blob_section hdr = {SECTIONS[i].tag, (uint32_t)sec.len};
            rc = sec.len > LX_BLOB_MAX ? -E2BIG : lx_buf_put(&b, &hdr, sizeof(hdr));
            if (rc == 0)
                rc = lx_buf_put(&b, sec.data, sec.len);
            if (rc == 0)
                rc = lx_buf_put(&b, pad, (8 - sec.len % 8) % 8);
        }
        lx_buf_free(&sec);
    }
    if (rc == 0 && b.len > LX_BLOB_MAX)
        rc = -E2BIG;
    if (rc < 0) {
        lx_buf_free(&b);
        return rc;
    }
    ((struct lx_blob *)b.data)->size = (uint32_t)b.len;
    *out = b.data;
    return (ssize_t)b.len;
}

const struct lx_blob *lx_blob_header(const void *buf, size_t len)
{
    const struct lx_blob *b = buf;
    if (len < sizeof(*b) || memcmp(b->magic, LX_BLOB_MAGIC, sizeof(b->magic)) || b->abi != LX_BLOB_ABI ||
        b->size != len)
        return NULL;
    return b;
}

static int kind_in_c(uint8_t kind)
{
    /* PYTHON (or anything this build does not know) needs the Python layer */
    return kind != LX_ACT_PYTHON && kind < LX_ACT_KINDS;
}

int lx_blob_import(struct lx_sup *s, const void *buf, size_t len)
{
    const struct lx_blob *b = lx_blob_header(buf, len);
    if (!b)
        return -EINVAL;
    for (int i = 0; i < LX_NR_MAX; i++)
        if (!kind_in_c(b->table[i].kind))
            return -ENOTSUP;
    if (!kind_in_c(b->dflt.kind))
        return -ENOTSUP;
    /* check every section before loading any: a blob is taken whole or not at all */
    const uint8_t *p = (const uint8_t *)buf + sizeof(*b), *end = (const uint8_t *)buf + len;
    for (int pass = 0; pass < 2; pass++) {
        const uint8_t *q = p;
        while (q < end) {
            struct lx_blob_section hdr;
            if ((size_t)(end - q) < sizeof(hdr))
                return -EINVAL;
            memcpy(&hdr, q, sizeof(hdr));
            q += sizeof(hdr);
            size_t padded = hdr.len + (8 - hdr.len % 8) % 8;
            if (hdr.len > LX_BLOB_MAX || (size_t)(end - q) < padded)
                return -EINVAL;
            const struct lx_section_ops *ops = section_ops(hdr.tag);
            if (!ops)
                return -ENOTSUP;
            if (pass == 1) {
                int rc = ops->import(s, q, hdr.len);
                if (rc < 0)
                    return rc;
            }
            q += padded;
        }
    }
    memcpy(s->table, b->table, sizeof(s->table));
    s->dflt = b->dflt;
    return 0;
}

static void set_field(char *dst, const char *v)
{
    memset(dst, 0, LX_UTS_LEN);
    strncpy(dst, v, LX_UTS_LEN - 1);
}

void lx_blob_apply_uts(struct lx_sup *s, const struct lx_blob *b)
{
    struct utsname host;
    if (uname(&host) < 0)
        memset(&host, 0, sizeof(host));
    set_field(s->uts.sysname, host.sysname);
    set_field(s->uts.nodename, host.nodename);
    set_field(s->uts.release, host.release);
    set_field(s->uts.version, host.version);
    set_field(s->uts.machine, host.machine);
    set_field(s->uts.domainname, host.domainname); /* a field of glibc's struct with _GNU_SOURCE */
    char *dst[6] = {s->uts.sysname, s->uts.nodename, s->uts.release, s->uts.version, s->uts.machine,
                    s->uts.domainname};
    const char *src[6] = {b->uts.sysname, b->uts.nodename, b->uts.release, b->uts.version, b->uts.machine,
                          b->uts.domainname};
    for (int k = 0; k < 6; k++)
        if (b->uts_mask & (1u << k))
            set_field(dst[k], src[k]);
}
