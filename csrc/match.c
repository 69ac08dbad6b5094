/* Rule patterns: prefixes and globs (match.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "match.h"

static int cont(const unsigned char *s, size_t i, size_t n, unsigned lo, unsigned hi)
{
    return i < n && s[i] >= lo && s[i] <= hi;
}

/* Python's UTF-8 decoder with errors="surrogateescape": a byte that does not start
 * a well-formed sequence (shortest form, no surrogates, at most U+10FFFF) becomes
 * U+DC00 + byte, and decoding goes on at the next byte -- which gives what Python
 * gives, since its error ranges only ever hold bytes that cannot start one. */
size_t lx_decode(const char *str, size_t n, uint32_t *out, int mode)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, k = 0;
    while (i < n) {
        unsigned c = s[i];
        if (mode == LX_TEXT_LATIN1 || c < 0x80) {
            out[k++] = c;
            i++;
            continue;
        }
        int len = 0;
        uint32_t cp = 0;
        if (c >= 0xc2 && c <= 0xdf && cont(s, i + 1, n, 0x80, 0xbf)) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
            if (cont(s, i + 1, n, lo, hi) && cont(s, i + 2, n, 0x80, 0xbf)) {
                len = 3;
                cp = c & 0x0f;
            }
        } else if (c >= 0xf0 && c <= 0xf4) {
            unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
            if (cont(s, i + 1, n, lo, hi) && cont(s, i + 2, n, 0x80, 0xbf) && cont(s, i + 3, n, 0x80, 0xbf)) {
                len = 4;
                cp = c & 0x07;
            }
        }
        if (!len) {
            out[k++] = 0xdc00 + c;
            i++;
            continue;
        }
        for (int j = 1; j < len; j++)
            cp = (cp << 6) | (s[i + j] & 0x3f);
        out[k++] = cp;
        i += (size_t)len;
    }
    return k;
}

/* Does token tok[*p] match code point c?  Advances *p past the token. */
static int one(const uint32_t *tok, size_t *p, uint32_t c)
{
    uint32_t t = tok[*p];
    if (t == LX_TOK_ANY) {
        (*p)++;
        return 1;
    }
    if (t == LX_TOK_FAIL) {
        (*p)++;
        return 0;
    }
    if (t != LX_TOK_SET) {
        (*p)++;
        return t == c;
    }
    uint32_t neg = tok[*p + 1], n = tok[*p + 2];
    const uint32_t *r = tok + *p + 3;
    int in = 0;
    for (uint32_t i = 0; i < n && !in; i++)
        in = c >= r[2 * i] && c <= r[2 * i + 1];
    *p += 3 + 2 * (size_t)n;
    return neg ? !in : in;
}

static size_t skip(const uint32_t *tok, size_t p)
{
    return tok[p] == LX_TOK_SET ? p + 3 + 2 * (size_t)tok[p + 2] : p + 1;
}

/* Glob matching with one backtrack point: every token but STAR matches exactly
 * one character, so the last STAR's position is all that ever needs retrying
 * (the leftmost match of each later piece is the best one). */
int lx_glob(const uint32_t *tok, size_t ntok, const uint32_t *s, size_t n)
{
    size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;
    while (i < n) {
        if (p < ntok && tok[p] == LX_TOK_STAR) {
            star_p = ++p;
            star_i = i;
            continue;
        }
        size_t q = p;
        if (p < ntok && one(tok, &q, s[i])) {
            p = q;
            i++;
            continue;
        }
        if (star_p == (size_t)-1)
            return 0;
        p = star_p;
        i = ++star_i;
    }
    while (p < ntok && tok[p] == LX_TOK_STAR)
        p++;
    return p == ntok;
}

int lx_tokens_valid(const uint32_t *tok, size_t ntok)
{
    size_t p = 0;
    while (p < ntok) {
        uint32_t t = tok[p];
        if (t == LX_TOK_SET) {
            if (p + 3 > ntok || tok[p + 1] > 1 || tok[p + 2] > (ntok - p - 3) / 2)
                return -EINVAL;
        } else if (t > 0x10ffff && t != LX_TOK_STAR && t != LX_TOK_ANY && t != LX_TOK_FAIL) {
            return -EINVAL;
        }
        p = skip(tok, p);
    }
    return p == ntok ? 0 : -EINVAL;
}

int lx_pattern_match(const struct lx_pattern *p, struct lx_text_buf *t)
{
    if (!p->glob) {
        /* the path itself, or anything under it; "" is "/", which holds everything */
        if (p->len == 0)
            return 1;
        if (t->n < p->len || memcmp(t->s, p->prefix, p->len) != 0)
            return 0;
        return t->n == p->len || t->s[p->len] == '/';
    }
    if (!t->cps) {
        t->cps = malloc((t->n ? t->n : 1) * sizeof(uint32_t));
        if (!t->cps)
            return -ENOMEM;
        t->ncps = lx_decode(t->s, t->n, t->cps, t->mode);
    }
    return lx_glob(p->tok, p->len, t->cps, t->ncps);
}

void lx_text_free(struct lx_text_buf *t)
{
    free(t->cps);
    t->cps = NULL;
}

int lx_pattern_set(struct lx_pattern *p, int glob, const void *data, size_t len)
{
    memset(p, 0, sizeof(*p));
    p->glob = glob ? 1 : 0;
    if (glob) {
        if (len % 4 || len / 4 > UINT32_MAX)
            return -EINVAL;
        p->len = (uint32_t)(len / 4);
        p->tok = malloc(len ? len : 4);
        if (!p->tok)
            return -ENOMEM;
        memcpy(p->tok, data, len);
        if (lx_tokens_valid(p->tok, p->len) < 0) {
            lx_pattern_free(p);
            return -EINVAL;
        }
        return 0;
    }
    if (len > 4096 || memchr(data, '\0', len) || (len && ((const char *)data)[len - 1] == '/'))
        return -EINVAL;
    p->len = (uint32_t)len;
    p->prefix = malloc(len + 1);
    if (!p->prefix)
        return -ENOMEM;
    memcpy(p->prefix, data, len);
    p->prefix[len] = '\0';
    return 0;
}

void lx_pattern_free(struct lx_pattern *p)
{
    free(p->prefix);
    free(p->tok);
    memset(p, 0, sizeof(*p));
}

int lx_pattern_put(struct lx_buf *b, const struct lx_pattern *p)
{
    uint32_t nbytes = p->glob ? p->len * 4 : p->len;
    int rc = lx_buf_put(b, &p->glob, 1);
    if (rc == 0)
        rc = lx_buf_put(b, &nbytes, 4);
    if (rc == 0)
        rc = lx_buf_put(b, p->glob ? (const void *)p->tok : (const void *)p->prefix, nbytes);
    return rc;
}

int lx_pattern_get(struct lx_pattern *p, const uint8_t **q, const uint8_t *end)
{
    uint8_t glob;
    uint32_t nbytes;
    if (end - *q < 5)
        return -EINVAL;
    glob = (*q)[0];
    memcpy(&nbytes, *q + 1, 4);
    *q += 5;
    if (glob > 1 || (size_t)(end - *q) < nbytes)
        return -EINVAL;
    int rc = lx_pattern_set(p, glob, *q, nbytes);
    *q += nbytes;
    return rc;
}
