/* cache.c - the on-disk landmark / A(x,y) cache; see cache.h for the key,
 * the face-box policies and the entry format.
 *
 * A read never trusts the file: its exact length follows from the header's
 * counts, each count is range-checked before it is used to compute that
 * length, and the trailing SHA-256 must match.  Anything else is a miss.
 */
#include "train/cache.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "face/amap.h"
#include "face/locate.h"
#include "face/ert.h"
#include "face/input.h"
#include "face/points.h"
#include "nn/fileio.h"

#define MAGIC "TSLMC\0\0\1"
#define HDR_LEN 104
#define MAX_IMAGE_FILE ((size_t)256 << 20)

struct ts_lmcache {
    char *dir;
    ts_lmcache_policy policy;
    char method[96];
    uint8_t method_sha[32];
    char method_hex[TS_SHA256_HEX_LEN + 1];
    int amap_size;
    ts_ert *ert;
    ts_locator *loc;        /* TS_BOX_DETECTOR: the app's own face finder (face/locate.h) */
    pthread_mutex_t loc_mu; /* a locator holds activations: one image at a time */
};

ts_lmcache_policy ts_lmcache_policy_for(const char *kind)
{
    ts_lmcache_policy p = { TS_BOX_DETECTOR, { 0.20f, 0.20f, 0.60f, 0.60f } };
    if (kind && !strcmp(kind, "celeba")) p = (ts_lmcache_policy){ TS_BOX_FIXED, { 0.20f, 0.30f, 0.60f, 0.60f } };
    else if (kind && !strcmp(kind, "utkface"))
        p = (ts_lmcache_policy){ TS_BOX_FIXED, { 0.08f, 0.08f, 0.84f, 0.84f } };
    else if (kind && !strcmp(kind, "adience"))
        p = (ts_lmcache_policy){ TS_BOX_FIXED, { 0.20f, 0.20f, 0.60f, 0.60f } };
    return p;
}

void ts_lmcache_policy_name(const ts_lmcache_policy *p, char *buf, int len)
{
    if (p->box == TS_BOX_DETECTOR) snprintf(buf, (size_t)len, "ert:locate");
    else snprintf(buf, (size_t)len, "ert:box=%.3f,%.3f,%.3f,%.3f", p->box_frac[0], p->box_frac[1], p->box_frac[2],
                  p->box_frac[3]);
}

void ts_lm_entry_clear(ts_lm_entry *e)
{
    if (!e) return;
    free(e->amap);
    memset(e, 0, sizeof *e);
}

static char *default_dir(void)
{
    const char *env = getenv("TRAITSCOPE_CACHE");
    char buf[4096];
    if (env && env[0]) return strdup(env);
    env = getenv("XDG_CACHE_HOME");
    if (env && env[0]) snprintf(buf, sizeof buf, "%s/traitscope/landmarks", env);
    else snprintf(buf, sizeof buf, "%s/.cache/traitscope/landmarks", getenv("HOME") ? getenv("HOME") : "/tmp");
    return strdup(buf);
}

/* mkdir -p */
static ts_status make_dirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return ts_error(TS_ERR_IO, "cache: path too long: %s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return ts_error(TS_ERR_IO, "cache: cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return ts_error(TS_ERR_IO, "cache: cannot create %s: %s", tmp, strerror(errno));
    return TS_OK;
}

static void to_hex(const uint8_t *d, int n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

ts_status ts_lmcache_open(const char *dir, const ts_lmcache_policy *policy, int amap_size, ts_lmcache **out)
{
    *out = NULL;
    if (amap_size < 0 || amap_size > TS_LMCACHE_MAX_SIZE)
        return ts_error(TS_ERR_ARG, "cache: A(x,y) size %d outside 0..%d", amap_size, TS_LMCACHE_MAX_SIZE);
    for (int i = 0; i < 4; i++)
        if (!(policy->box_frac[i] >= 0 && policy->box_frac[i] <= 1))
            return ts_error(TS_ERR_ARG, "cache: face box fractions must lie in [0,1]");
    ts_lmcache *c = calloc(1, sizeof *c);
    if (!c) return ts_error(TS_ERR_OOM, "cache: out of memory");
    c->dir = dir ? strdup(dir) : default_dir();
    c->policy = *policy;
    c->amap_size = amap_size;
    ts_lmcache_policy_name(policy, c->method, sizeof c->method);
    ts_sha256 h;
    ts_sha256_init(&h);
    ts_sha256_update(&h, c->method, strlen(c->method));
    ts_sha256_final(&h, c->method_sha);
    to_hex(c->method_sha, 32, c->method_hex);
    ts_status st = c->dir ? make_dirs(c->dir) : ts_error(TS_ERR_OOM, "cache: out of memory");
    if (st == TS_OK && policy->box == TS_BOX_FIXED) st = ts_ert_load(NULL, &c->ert);
    if (st == TS_OK && policy->box == TS_BOX_DETECTOR) {
        /* the finder's models (its own ert among them) load now, so that a
         * missing one is said at once */
        st = ts_locator_new(NULL, &c->loc);
        ts_detector *d;
        if (st == TS_OK) st = ts_locator_detector(c->loc, &d);
        if (st == TS_OK) st = ts_locator_load_landmarks(c->loc);
        if (st == TS_OK) pthread_mutex_init(&c->loc_mu, NULL);
        else {
            ts_locator_free(c->loc);
            c->loc = NULL;
        }
    }
    if (st != TS_OK) {
        ts_lmcache_free(c);
        return st;
    }
    *out = c;
    return TS_OK;
}

void ts_lmcache_free(ts_lmcache *c)
{
    if (!c) return;
    ts_ert_free(c->ert);
    if (c->loc) {
        ts_locator_free(c->loc);
        pthread_mutex_destroy(&c->loc_mu);
    }
    free(c->dir);
    free(c);
}

const char *ts_lmcache_dir(const ts_lmcache *c) { return c->dir; }

char *ts_lmcache_entry_path(const ts_lmcache *c, const char *hex)
{
    size_t n = strlen(c->dir) + 2 * TS_SHA256_HEX_LEN + 64;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%.2s/%s-%.16s-%d.tslm", c->dir, hex, hex, c->method_hex, c->amap_size);
    return p;
}

static uint32_t rd_u32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr_u32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static float rd_f32(const uint8_t *p) { uint32_t u = rd_u32(p); float f; memcpy(&f, &u, 4); return f; }
static void wr_f32(uint8_t *p, float f) { uint32_t u; memcpy(&u, &f, 4); wr_u32(p, u); }

static ts_status entry_parse(const uint8_t *buf, size_t len, const char *name, bool verify_digest,
                             uint8_t image_sha[32], uint8_t method_sha[32], ts_lm_entry *e)
{
    if (len < HDR_LEN + 32) return ts_error(TS_ERR_FORMAT, "%s: %zu bytes, shorter than a cache entry", name, len);
    if (memcmp(buf, MAGIC, 8) != 0) return ts_error(TS_ERR_FORMAT, "%s: not a landmark cache entry (magic)", name);
    uint32_t n = rd_u32(buf + 72), w = rd_u32(buf + 76), h = rd_u32(buf + 80), S = rd_u32(buf + 84);
    if (n < 1 || n > TS_POINTS_MAX) return ts_error(TS_ERR_FORMAT, "%s: offset 72: %u points", name, n);
    if (w < 1 || w > TS_IMAGE_MAX_SIDE || h < 1 || h > TS_IMAGE_MAX_SIDE)
        return ts_error(TS_ERR_FORMAT, "%s: offset 76: image size %ux%u", name, w, h);
    if (S > TS_LMCACHE_MAX_SIZE) return ts_error(TS_ERR_FORMAT, "%s: offset 84: A(x,y) size %u", name, S);
    size_t want = HDR_LEN + 8 * (size_t)n + (size_t)S * S + 32;
    if (len != want)
        return ts_error(TS_ERR_FORMAT, "%s: %zu bytes, the header says %zu (truncated?)", name, len, want);
    if (verify_digest) {
        uint8_t digest[32];
        ts_sha256 hs;
        ts_sha256_init(&hs);
        ts_sha256_update(&hs, buf, len - 32);
        ts_sha256_final(&hs, digest);
        if (memcmp(digest, buf + len - 32, 32) != 0) return ts_error(TS_ERR_FORMAT, "%s: checksum mismatch", name);
    }
    e->img_w = (int)w;
    e->img_h = (int)h;
    for (int i = 0; i < 4; i++) {
        e->box[i] = rd_f32(buf + 88 + 4 * i);
        if (!isfinite(e->box[i])) return ts_error(TS_ERR_FORMAT, "%s: offset %d: box not finite", name, 88 + 4 * i);
    }
    e->pts.n = (int)n;
    for (uint32_t i = 0; i < n; i++) {
        e->pts.x[i] = rd_f32(buf + HDR_LEN + 4 * i);
        e->pts.y[i] = rd_f32(buf + HDR_LEN + 4 * (n + i));
        if (!isfinite(e->pts.x[i]) || !isfinite(e->pts.y[i]) || fabsf(e->pts.x[i]) > TS_POINTS_MAX_COORD ||
            fabsf(e->pts.y[i]) > TS_POINTS_MAX_COORD)
            return ts_error(TS_ERR_FORMAT, "%s: point %u out of range", name, i);
    }
    if (S) {
        const uint8_t *a = buf + HDR_LEN + 8 * (size_t)n;
        for (size_t i = 0; i < (size_t)S * S; i++)
            if (a[i] >= n) return ts_error(TS_ERR_FORMAT, "%s: A(x,y) value %u >= %u points", name, a[i], n);
        e->amap = malloc((size_t)S * S);
        if (!e->amap) return ts_error(TS_ERR_OOM, "%s: out of memory", name);
        memcpy(e->amap, a, (size_t)S * S);
    }
    e->amap_size = (int)S;
    if (image_sha) memcpy(image_sha, buf + 8, 32);
    if (method_sha) memcpy(method_sha, buf + 40, 32);
    return TS_OK;
}

ts_status ts_lm_entry_parse(const uint8_t *buf, size_t len, const char *name, bool verify_digest,
                            uint8_t image_sha[32], uint8_t method_sha[32], ts_lm_entry *e)
{
    memset(e, 0, sizeof *e);
    ts_status st = entry_parse(buf, len, name, verify_digest, image_sha, method_sha, e);
    if (st != TS_OK) ts_lm_entry_clear(e);
    return st;
}

/* An entry of this cache for this image; false (a miss) otherwise. */
static bool parse_entry(const ts_lmcache *c, const uint8_t *img_sha, const uint8_t *buf, size_t len, ts_lm_entry *e)
{
    uint8_t isha[32], msha[32];
    if (ts_lm_entry_parse(buf, len, "cache entry", true, isha, msha, e) != TS_OK) return false;
    if (memcmp(isha, img_sha, 32) != 0 || memcmp(msha, c->method_sha, 32) != 0 || e->amap_size != c->amap_size) {
        ts_lm_entry_clear(e);
        return false;
    }
    return true;
}

static ts_status write_entry(const ts_lmcache *c, const char *path, const uint8_t *img_sha, const ts_lm_entry *e)
{
    uint32_t n = (uint32_t)e->pts.n, S = (uint32_t)e->amap_size;
    size_t len = HDR_LEN + 8 * (size_t)n + (size_t)S * S + 32;
    uint8_t *buf = calloc(1, len);
    if (!buf) return ts_error(TS_ERR_OOM, "cache: out of memory");
    memcpy(buf, MAGIC, 8);
    memcpy(buf + 8, img_sha, 32);
    memcpy(buf + 40, c->method_sha, 32);
    wr_u32(buf + 72, n);
    wr_u32(buf + 76, (uint32_t)e->img_w);
    wr_u32(buf + 80, (uint32_t)e->img_h);
    wr_u32(buf + 84, S);
    for (int i = 0; i < 4; i++) wr_f32(buf + 88 + 4 * i, e->box[i]);
    for (uint32_t i = 0; i < n; i++) {
        wr_f32(buf + HDR_LEN + 4 * i, e->pts.x[i]);
        wr_f32(buf + HDR_LEN + 4 * (n + i), e->pts.y[i]);
    }
    if (S) memcpy(buf + HDR_LEN + 8 * (size_t)n, e->amap, (size_t)S * S);
    ts_sha256 hs;
    ts_sha256_init(&hs);
    ts_sha256_update(&hs, buf, len - 32);
    ts_sha256_final(&hs, buf + len - 32);
    /* The HH folder may not exist yet. */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    ts_status st = make_dirs(dir);
    if (st == TS_OK) st = ts_write_file_atomic(path, buf, len);
    free(buf);
    return st;
}

/* The fixed face box for `img` (x, y, w, h pixels). */
static void face_box(const ts_lmcache *c, const ts_image *img, float box[4])
{
    const float *f = c->policy.box_frac;
    box[0] = f[0] * img->width;
    box[1] = f[1] * img->height;
    box[2] = f[2] * img->width;
    box[3] = f[3] * img->height;
}

/* The 68 points of `img` under the cache's policy, and the box they came from. */
static ts_status find_points(ts_lmcache *c, const ts_image *img, float box[4], ts_points *pts)
{
    if (!c->loc) {
        face_box(c, img, box);
        return ts_ert_predict(c->ert, img, box, pts);
    }
    /* the largest face, as the explorer finds it (locate.h) */
    ts_located_face f;
    pthread_mutex_lock(&c->loc_mu);
    ts_status st = ts_locate_face(c->loc, img, &f);
    pthread_mutex_unlock(&c->loc_mu);
    if (st != TS_OK) return st;
    box[0] = f.box.x;
    box[1] = f.box.y;
    box[2] = f.box.w;
    box[3] = f.box.h;
    *pts = f.pts;
    return TS_OK;
}

ts_status ts_lmcache_get(ts_lmcache *c, const char *path, ts_lm_entry *out, ts_image *img, bool *hit)
{
    memset(out, 0, sizeof *out);
    if (img) memset(img, 0, sizeof *img);
    if (hit) *hit = false;
    uint8_t *file;
    size_t flen;
    TS_TRY(ts_read_file(path, MAX_IMAGE_FILE, &file, &flen));
    uint8_t sha[32];
    char hex[TS_SHA256_HEX_LEN + 1];
    ts_sha256 hs;
    ts_sha256_init(&hs);
    ts_sha256_update(&hs, file, flen);
    ts_sha256_final(&hs, sha);
    to_hex(sha, 32, hex);
    char *entry_path = ts_lmcache_entry_path(c, hex);
    if (!entry_path) {
        free(file);
        return ts_error(TS_ERR_OOM, "cache: out of memory");
    }
    uint8_t *buf;
    size_t len;
    ts_status st = TS_OK;
    bool found = false;
    if (ts_read_file(entry_path, (size_t)1 << 24, &buf, &len) == TS_OK) {
        found = parse_entry(c, sha, buf, len, out);
        if (!found) ts_lm_entry_clear(out);
        free(buf);
    }
    ts_error_clear();
    if (found && !img) goto done;
    ts_image local;
    st = ts_image_decode(file, flen, path, &local);
    if (st != TS_OK) goto done;
    if (!found) {
        out->img_w = local.width;
        out->img_h = local.height;
        st = find_points(c, &local, out->box, &out->pts);
        if (st == TS_OK && c->amap_size) {
            int S = c->amap_size;
            ts_points scaled;
            /* The unaugmented, unaligned input: the whole image scaled to S
             * (sample.h, alignment none). */
            ts_points_to_input(&out->pts, local.width, local.height, S, &scaled);
            out->amap_size = S;
            out->amap = malloc((size_t)S * S);
            st = out->amap ? ts_amap_compute(&scaled, S, S, out->amap) : ts_error(TS_ERR_OOM, "cache: out of memory");
        }
        if (st == TS_OK) {
            /* A cache that cannot be written only costs time. */
            if (write_entry(c, entry_path, sha, out) != TS_OK) ts_error_clear();
        } else {
            ts_error_prefix(st, "%s: ", path);
        }
    }
    if (st == TS_OK && img) *img = local;
    else ts_image_clear(&local);
done:
    if (st != TS_OK) ts_lm_entry_clear(out);
    else if (hit) *hit = found;
    free(entry_path);
    free(file);
    return st;
}
