/* Patterns of [[path]] and [[network]] rules, as the policy layer compiled them.
 *
 * A pattern is a prefix ("/home": the path itself and everything under it) or a
 * glob.  Globs mean what Python's fnmatch.fnmatchcase means on the decoded text
 * (lxbrand/rules/patterns.py translates each one with fnmatch and parses the
 * result with Python's own regular-expression parser), handed to C as tokens
 * over Unicode code points: a literal code point, or one of the LX_TOK_* below.
 * Texts are decoded as Python decodes them: file paths as UTF-8 with
 * surrogateescape (os.fsdecode), abstract socket names as Latin-1 (fnmatch on
 * bytes).
 */
#ifndef LX_MATCH_H
#define LX_MATCH_H
#include <stddef.h>
#include <stdint.h>

#define LX_TOK_STAR 0xfffffff0u /* any run of characters, '/' included */
#define LX_TOK_ANY 0xfffffff1u  /* one character */
#define LX_TOK_SET 0xfffffff2u  /* followed by: negate (0 or 1), n, then n (lo, hi) pairs */
#define LX_TOK_FAIL 0xfffffff3u /* matches nothing (an empty set) */

enum lx_text { LX_TEXT_UTF8 = 0, LX_TEXT_LATIN1 = 1 };

struct lx_pattern {
    uint8_t glob;   /* 0: prefix, 1: glob */
    uint32_t len;   /* bytes of prefix, or tokens of tok */
    char *prefix;   /* no trailing '/'; "" stands for "/" (everything) */
    uint32_t *tok;
};

/* Code points of s[0..n) into out (room for n); returns how many. */
size_t lx_decode(const char *s, size_t n, uint32_t *out, int mode);
/* 1 if the code points match the glob's tokens (the whole text) */
int lx_glob(const uint32_t *tok, size_t ntok, const uint32_t *s, size_t n);
/* Check a token array from outside (a blob, the binding): 0 or -EINVAL. */
int lx_tokens_valid(const uint32_t *tok, size_t ntok);

/* A text to match, decoded at most once for all the patterns it meets. */
struct lx_text_buf {
    const char *s;
    size_t n;
    int mode;
    uint32_t *cps; /* NULL until a glob needs them */
    size_t ncps;
};
int lx_pattern_match(const struct lx_pattern *p, struct lx_text_buf *t); /* 1, 0, or -ENOMEM */
void lx_text_free(struct lx_text_buf *t);

/* Patterns as bytes (for the compiled-policy blob): glob (u8), len (u32), data. */
struct lx_buf;
int lx_pattern_put(struct lx_buf *b, const struct lx_pattern *p);
int lx_pattern_get(struct lx_pattern *p, const uint8_t **q, const uint8_t *end); /* 0 or -EINVAL/-ENOMEM */
int lx_pattern_set(struct lx_pattern *p, int glob, const void *data, size_t len); /* copies */
void lx_pattern_free(struct lx_pattern *p);
#endif
