/* safetext.c - see safetext.h. */
#include "nn/safetext.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static int seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int k;
    unsigned lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) k = 2;
    else if (c == 0xe0) k = 3, lo = 0xa0;
    else if (c == 0xed) k = 3, hi = 0x9f; /* no surrogates */
    else if (c >= 0xe1 && c <= 0xef) k = 3;
    else if (c == 0xf0) k = 4, lo = 0x90;
    else if (c == 0xf4) k = 4, hi = 0x8f; /* nothing above U+10FFFF */
    else if (c >= 0xf1 && c <= 0xf3) k = 4;
    else return 0;
    if ((size_t)k > n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return k;
}

size_t ts_utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int k = seq_len(u + i, n - i);
        if (!k) break;
        i += (size_t)k;
    }
    return i;
}

bool ts_utf8_valid(const char *s)
{
    size_t n = strlen(s);
    return ts_utf8_valid_prefix(s, n) == n;
}

char *ts_utf8_repair(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1); /* each byte at most U+FFFD (3 bytes) */
    if (!out) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int k = seq_len(u + i, n - i);
        if (k) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

char *ts_text_escape(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(8 * n + 1); /* a C1 character: 2 bytes -> 8 */
    if (!out) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int k = seq_len(u + i, n - i);
        bool c1 = k == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0; /* U+0080..U+009F */
        if (k == 1 && (u[i] < 0x20 || u[i] == 0x7f)) {
            const char *e = u[i] == '\n' ? "\\n" : u[i] == '\t' ? "\\t" : u[i] == '\r' ? "\\r" : NULL;
            if (e) o += (size_t)sprintf(out + o, "%s", e);
            else o += (size_t)sprintf(out + o, "\\x%02x", u[i]);
            i++;
        } else if (c1) {
            o += (size_t)sprintf(out + o, "\\x%02x\\x%02x", u[i], u[i + 1]);
            i += 2;
        } else if (k) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            o += (size_t)sprintf(out + o, "\\x%02x", u[i]);
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

void ts_text_print_line(FILE *f, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *e = ts_text_escape(buf);
    fprintf(f, "%s\n", e ? e : buf);
    free(e);
}

/* ---- JSON ------------------------------------------------------------------ */

static char *cjson_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = cJSON_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static cJSON *hex_string(const char *s)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = strlen(s);
    char *h = malloc(2 * n + 1);
    if (!h) return NULL;
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = digits[(unsigned char)s[i] >> 4];
        h[2 * i + 1] = digits[(unsigned char)s[i] & 15];
    }
    h[2 * n] = '\0';
    cJSON *j = cJSON_CreateString(h);
    free(h);
    return j;
}

/* Replaces the value of a string item by its repaired form. */
static void repair_value(cJSON *it)
{
    char *r = ts_utf8_repair(it->valuestring);
    char *c = r ? cjson_strdup(r) : NULL;
    free(r);
    if (!c) return; /* out of memory: leave it; the printer still works */
    cJSON_free(it->valuestring);
    it->valuestring = c;
}

static void repair_key(cJSON *it)
{
    if (!it->string || ts_utf8_valid(it->string)) return;
    char *r = ts_utf8_repair(it->string);
    char *c = r ? cjson_strdup(r) : NULL;
    free(r);
    if (!c) return;
    if (!(it->type & cJSON_StringIsConst)) cJSON_free(it->string);
    it->string = c;
    it->type &= ~cJSON_StringIsConst;
}

/* Links `twin` into parent's children right after `after`, named KEY_bytes. */
static void insert_twin(cJSON *parent, cJSON *after, cJSON *twin)
{
    size_t n = strlen(after->string) + 7;
    char *name = cJSON_malloc(n);
    if (!name) {
        cJSON_Delete(twin);
        return;
    }
    snprintf(name, n, "%s_bytes", after->string);
    twin->string = name;
    twin->prev = after;
    twin->next = after->next;
    if (after->next) after->next->prev = twin;
    else parent->child->prev = twin; /* the first child's prev is the last */
    after->next = twin;
}

static bool needs_repair(const cJSON *it)
{
    return cJSON_IsString(it) && it->valuestring && !ts_utf8_valid(it->valuestring);
}

static void repair(cJSON *node, bool twins, int depth)
{
    if (!node || depth > 64) return;
    bool object = cJSON_IsObject(node);
    for (cJSON *it = node->child; it; it = it->next) {
        repair_key(it);
        if (needs_repair(it)) {
            cJSON *twin = object && twins && it->string ? hex_string(it->valuestring) : NULL;
            repair_value(it);
            if (twin) {
                insert_twin(node, it, twin);
                it = it->next; /* past the twin */
            }
        } else if (cJSON_IsArray(it)) {
            /* strings of an array member: a parallel KEY_bytes array */
            bool any = false;
            for (cJSON *e = it->child; e && !any; e = e->next) any = needs_repair(e);
            cJSON *twin = any && object && twins && it->string ? cJSON_CreateArray() : NULL;
            for (cJSON *e = it->child; e; e = e->next) {
                if (twin) cJSON_AddItemToArray(twin, needs_repair(e) ? hex_string(e->valuestring) : cJSON_CreateNull());
                if (needs_repair(e)) repair_value(e);
                else repair(e, twins, depth + 1);
            }
            if (twin) {
                insert_twin(node, it, twin);
                it = it->next;
            }
        } else if (cJSON_IsObject(it)) {
            repair(it, twins, depth + 1);
        }
    }
}

void ts_json_repair(cJSON *root, bool bytes_twins)
{
    if (!root) return;
    if (needs_repair(root)) repair_value(root);
    else repair(root, bytes_twins, 0);
}

char *ts_json_print(cJSON *root, bool formatted)
{
    ts_json_repair(root, true);
    return formatted ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
}
