/* tfjs.c - TensorFlow.js weights manifest and shard reader (see tfjs.h).
 *
 * Two passes over the manifest: the first checks every group and weight and
 * sums the floats needed, the second converts.  All weights share one
 * float block (so a load is one allocation and a free is one call), and
 * nothing is allocated from a size the shard bytes have not backed: a
 * weight's byte range is checked to lie inside its group before its floats
 * are counted.
 */
#include "face/tfjs.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "nn/fileio.h"

enum stored { ST_F32, ST_I32, ST_U8, ST_U16, ST_F16, ST_BOOL };

static size_t stored_size(enum stored s)
{
    switch (s) {
    case ST_F32: case ST_I32: return 4;
    case ST_U16: case ST_F16: return 2;
    case ST_U8: case ST_BOOL: return 1;
    }
    return 0;
}

float ts_tfjs_half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0) v = ldexpf((float)mant, -24); /* zero and subnormals */
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = ldexpf((float)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

/* One weight as described by the manifest, checked. */
typedef struct wspec {
    const char *name;
    int rank;
    int shape[TS_TFJS_MAX_RANK];
    size_t numel;
    enum stored st;
    int to_int;          /* dtype int32: dequantized values are rounded */
    double scale, min;   /* affine quantization (uint8 / uint16) */
} wspec;

static int json_int(const cJSON *v, long lo, long hi, long *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return 0;
    *out = (long)d;
    return 1;
}

static ts_status parse_spec(const cJSON *w, const char *src, int gi, int wi, wspec *s)
{
    memset(s, 0, sizeof *s);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(w, "name");
    if (!cJSON_IsString(name) || !name->valuestring)
        return ts_error(TS_ERR_FORMAT, "%s: group %d weight %d: \"name\" missing or not a string",
                        src, gi, wi);
    s->name = name->valuestring;
    if (strlen(s->name) >= TS_TFJS_NAME_MAX)
        return ts_error(TS_ERR_FORMAT, "%s: group %d weight %d: name longer than %d bytes", src, gi,
                        wi, TS_TFJS_NAME_MAX - 1);

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(w, "shape");
    if (!cJSON_IsArray(shape))
        return ts_error(TS_ERR_FORMAT, "%s: weight %s: \"shape\" missing or not an array", src,
                        s->name);
    int rank = cJSON_GetArraySize(shape);
    if (rank > TS_TFJS_MAX_RANK)
        return ts_error(TS_ERR_FORMAT, "%s: weight %s: rank %d above %d", src, s->name, rank,
                        TS_TFJS_MAX_RANK);
    s->rank = rank;
    s->numel = 1;
    for (int i = 0; i < rank; i++) {
        long d;
        if (!json_int(cJSON_GetArrayItem(shape, i), 0, INT_MAX, &d))
            return ts_error(TS_ERR_FORMAT, "%s: weight %s: shape[%d] is not a non-negative integer",
                            src, s->name, i);
        s->shape[i] = (int)d;
        /* Products beyond 2^40 elements cannot be backed by any shard. */
        if (d && s->numel > ((size_t)1 << 40) / (size_t)d)
            return ts_error(TS_ERR_FORMAT, "%s: weight %s: shape too large", src, s->name);
        s->numel *= (size_t)d;
    }

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(w, "dtype");
    if (!cJSON_IsString(dtype) || !dtype->valuestring)
        return ts_error(TS_ERR_FORMAT, "%s: weight %s: \"dtype\" missing", src, s->name);
    const char *dt = dtype->valuestring;
    if (strcmp(dt, "float32") == 0) s->st = ST_F32;
    else if (strcmp(dt, "int32") == 0) s->st = ST_I32, s->to_int = 1;
    else if (strcmp(dt, "bool") == 0) s->st = ST_BOOL;
    else
        return ts_error(TS_ERR_UNSUPPORTED, "%s: weight %s: dtype \"%.32s\" not supported", src,
                        s->name, dt);

    const cJSON *q = cJSON_GetObjectItemCaseSensitive(w, "quantization");
    if (q && !cJSON_IsNull(q)) {
        const cJSON *qd = cJSON_GetObjectItemCaseSensitive(q, "dtype");
        if (!cJSON_IsObject(q) || !cJSON_IsString(qd) || !qd->valuestring)
            return ts_error(TS_ERR_FORMAT, "%s: weight %s: \"quantization\" without a dtype", src,
                            s->name);
        if (s->st == ST_BOOL)
            return ts_error(TS_ERR_FORMAT, "%s: weight %s: a bool weight cannot be quantized", src,
                            s->name);
        const char *qt = qd->valuestring;
        if (strcmp(qt, "uint8") == 0 || strcmp(qt, "uint16") == 0) {
            const cJSON *sc = cJSON_GetObjectItemCaseSensitive(q, "scale");
            const cJSON *mn = cJSON_GetObjectItemCaseSensitive(q, "min");
            if (!cJSON_IsNumber(sc) || !cJSON_IsNumber(mn) || !isfinite(sc->valuedouble) ||
                !isfinite(mn->valuedouble))
                return ts_error(TS_ERR_FORMAT,
                                "%s: weight %s: %s quantization needs finite \"scale\" and \"min\"",
                                src, s->name, qt);
            s->st = qt[4] == '8' ? ST_U8 : ST_U16;
            s->scale = sc->valuedouble;
            s->min = mn->valuedouble;
        } else if (strcmp(qt, "float16") == 0) {
            if (s->st != ST_F32)
                return ts_error(TS_ERR_FORMAT, "%s: weight %s: float16 quantization of a %s weight",
                                src, s->name, dt);
            s->st = ST_F16;
        } else {
            return ts_error(TS_ERR_UNSUPPORTED, "%s: weight %s: quantization dtype \"%.32s\" not supported",
                            src, s->name, qt);
        }
    }
    return TS_OK;
}

static void convert(const wspec *s, const uint8_t *p, float *dst)
{
    for (size_t i = 0; i < s->numel; i++) {
        double v;
        switch (s->st) {
        case ST_F32: {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            float f;
            memcpy(&f, &u, 4);
            dst[i] = f;
            continue;
        }
        case ST_I32: {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            dst[i] = (float)(int32_t)u;
            continue;
        }
        case ST_F16:
            dst[i] = ts_tfjs_half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
            continue;
        case ST_BOOL:
            dst[i] = p[i] ? 1.0f : 0.0f;
            continue;
        case ST_U8: v = p[i] * s->scale + s->min; break;
        case ST_U16: v = (double)(p[2 * i] | p[2 * i + 1] << 8) * s->scale + s->min; break;
        default: v = 0; break;
        }
        /* tfjs computes q*scale+min in float64 and stores float32. */
        dst[i] = (float)(s->to_int ? nearbyint(v) : v);
    }
}

static const cJSON *manifest_groups(const cJSON *root, const char *src, ts_status *st)
{
    const cJSON *groups = root;
    if (cJSON_IsObject(root)) groups = cJSON_GetObjectItemCaseSensitive(root, "weightsManifest");
    if (!cJSON_IsArray(groups)) {
        *st = ts_error(TS_ERR_FORMAT, "%s: not a weights manifest (expected an array of groups or "
                       "an object with \"weightsManifest\")", src);
        return NULL;
    }
    *st = TS_OK;
    return groups;
}

/* Shared by load and parse.  group_bytes[g] is the byte size of group g's
 * shards when known (load), or NULL (parse: each group takes exactly the
 * bytes its weights need). */
static ts_status build(const cJSON *groups, const uint8_t *bins, size_t bins_len,
                       const size_t *group_bytes, const char *src, ts_tfjs **out)
{
    *out = NULL;
    int ng = cJSON_GetArraySize(groups);
    int nw = 0;
    size_t floats = 0, off = 0;
    ts_status st;

    /* Pass 1: check everything, count weights and floats. */
    for (int g = 0; g < ng; g++) {
        const cJSON *grp = cJSON_GetArrayItem(groups, g);
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(grp, "weights");
        if (!cJSON_IsObject(grp) || !cJSON_IsArray(ws))
            return ts_error(TS_ERR_FORMAT, "%s: group %d has no \"weights\" array", src, g);
        size_t gstart = off, gend = group_bytes ? gstart + group_bytes[g] : bins_len;
        int n = cJSON_GetArraySize(ws);
        for (int i = 0; i < n; i++) {
            wspec s;
            TS_TRY(parse_spec(cJSON_GetArrayItem(ws, i), src, g, i, &s));
            size_t bytes = s.numel * stored_size(s.st);
            if (bytes > gend - off)
                return ts_error(TS_ERR_FORMAT,
                                "%s: weight %s: needs %zu bytes at offset %zu but its group's "
                                "shards end at %zu", src, s.name, bytes, off, gend);
            off += bytes;
            floats += s.numel;
            if (++nw > TS_TFJS_MAX_WEIGHTS)
                return ts_error(TS_ERR_FORMAT, "%s: more than %d weights", src, TS_TFJS_MAX_WEIGHTS);
        }
        if (group_bytes) off = gend;
    }

    ts_tfjs *t = calloc(1, sizeof *t);
    float *block = floats ? malloc(floats * sizeof(float)) : NULL;
    ts_tfjs_weight *w = nw ? calloc((size_t)nw, sizeof *w) : NULL;
    if (!t || (floats && !block) || (nw && !w)) {
        free(t), free(block), free(w);
        return ts_error(TS_ERR_OOM, "%s: out of memory for %zu weight values", src, floats);
    }
    snprintf(t->source, sizeof t->source, "%s", src);
    t->weights = w;
    t->values = block;

    /* Pass 2: convert (nothing can fail except duplicate names). */
    off = 0;
    size_t fpos = 0;
    for (int g = 0; g < ng; g++) {
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(groups, g), "weights");
        size_t gstart = off;
        int n = cJSON_GetArraySize(ws);
        for (int i = 0; i < n; i++) {
            wspec s;
            parse_spec(cJSON_GetArrayItem(ws, i), src, g, i, &s);
            for (int k = 0; k < t->n; k++) {
                if (strcmp(w[k].name, s.name) == 0) {
                    st = ts_error(TS_ERR_FORMAT, "%s: weight %s appears twice", src, s.name);
                    ts_tfjs_free(t);
                    return st;
                }
            }
            ts_tfjs_weight *d = &w[t->n++];
            snprintf(d->name, sizeof d->name, "%s", s.name);
            d->rank = s.rank;
            memcpy(d->shape, s.shape, sizeof s.shape);
            d->numel = s.numel;
            d->data = s.numel ? block + fpos : NULL;
            if (s.numel) convert(&s, bins + off, d->data);
            fpos += s.numel;
            off += s.numel * stored_size(s.st);
        }
        if (group_bytes) off = gstart + group_bytes[g];
    }
    *out = t;
    return TS_OK;
}

ts_status ts_tfjs_parse(const char *json, size_t json_len, const uint8_t *bins, size_t bins_len,
                        const char *name, ts_tfjs **out)
{
    TS_ASSERT(out);
    *out = NULL;
    if (!name) name = "<memory>";
    if (json_len > TS_TFJS_MAX_MANIFEST)
        return ts_error(TS_ERR_FORMAT, "%s: manifest larger than %u bytes", name,
                        TS_TFJS_MAX_MANIFEST);
    cJSON *root = cJSON_ParseWithLength(json, json_len);
    if (!root) return ts_error(TS_ERR_FORMAT, "%s: not valid JSON", name);
    ts_status st;
    const cJSON *groups = manifest_groups(root, name, &st);
    if (groups) st = build(groups, bins, bins_len, NULL, name, out);
    cJSON_Delete(root);
    return st;
}

/* A shard path from the manifest must stay inside the manifest's folder. */
static int safe_rel_path(const char *p)
{
    if (!*p || p[0] == '/' || strlen(p) > 1024) return 0;
    for (const char *c = p; *c; c++) {
        if ((c == p || c[-1] == '/') && c[0] == '.' && c[1] == '.' && (c[2] == '/' || !c[2]))
            return 0;
    }
    return 1;
}

ts_status ts_tfjs_load(const char *manifest_path, ts_tfjs **out)
{
    TS_ASSERT(manifest_path && out);
    *out = NULL;
    uint8_t *json = NULL;
    size_t json_len = 0;
    TS_TRY(ts_read_file(manifest_path, TS_TFJS_MAX_MANIFEST, &json, &json_len));
    cJSON *root = cJSON_ParseWithLength((const char *)json, json_len);
    free(json);
    if (!root) return ts_error(TS_ERR_FORMAT, "%s: not valid JSON", manifest_path);

    /* Folder of the manifest, with its trailing slash. */
    const char *slash = strrchr(manifest_path, '/');
    size_t dirlen = slash ? (size_t)(slash - manifest_path + 1) : 0;

    ts_status st;
    uint8_t *bins = NULL;
    size_t bins_len = 0, *gbytes = NULL;
    const cJSON *groups = manifest_groups(root, manifest_path, &st);
    if (!groups) goto done;
    int ng = cJSON_GetArraySize(groups);
    gbytes = calloc((size_t)ng + 1, sizeof *gbytes);
    if (!gbytes) { st = ts_error(TS_ERR_OOM, "%s: out of memory", manifest_path); goto done; }
    for (int g = 0; g < ng; g++) {
        const cJSON *paths = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(groups, g), "paths");
        if (!cJSON_IsArray(paths)) {
            st = ts_error(TS_ERR_FORMAT, "%s: group %d has no \"paths\" array", manifest_path, g);
            goto done;
        }
        for (int i = 0; i < cJSON_GetArraySize(paths); i++) {
            const cJSON *p = cJSON_GetArrayItem(paths, i);
            if (!cJSON_IsString(p) || !p->valuestring || !safe_rel_path(p->valuestring)) {
                st = ts_error(TS_ERR_FORMAT, "%s: group %d path %d is not a relative file name "
                              "inside the manifest's folder", manifest_path, g, i);
                goto done;
            }
            char full[4096];
            if ((size_t)snprintf(full, sizeof full, "%.*s%s", (int)dirlen, manifest_path,
                                 p->valuestring) >= sizeof full) {
                st = ts_error(TS_ERR_FORMAT, "%s: shard path too long", manifest_path);
                goto done;
            }
            uint8_t *shard = NULL;
            size_t len = 0;
            st = ts_read_file(full, TS_TFJS_MAX_SHARD, &shard, &len);
            if (st != TS_OK) {
                ts_error_prefix(st, "%s: shard: ", manifest_path);
                goto done;
            }
            uint8_t *grown = len ? realloc(bins, bins_len + len) : bins;
            if (len && !grown) {
                free(shard);
                st = ts_error(TS_ERR_OOM, "%s: out of memory reading %s", manifest_path, full);
                goto done;
            }
            bins = grown;
            if (len) memcpy(bins + bins_len, shard, len);
            free(shard);
            bins_len += len;
            gbytes[g] += len;
        }
    }
    st = build(groups, bins, bins_len, gbytes, manifest_path, out);
done:
    free(gbytes);
    free(bins);
    cJSON_Delete(root);
    return st;
}

const ts_tfjs_weight *ts_tfjs_find(const ts_tfjs *t, const char *name)
{
    for (int i = 0; t && i < t->n; i++)
        if (strcmp(t->weights[i].name, name) == 0) return &t->weights[i];
    return NULL;
}

static void shape_str(char *buf, size_t len, int rank, const int *shape)
{
    size_t u = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && u < len; i++)
        u += (size_t)snprintf(buf + u, len - u, "%s%d", i ? "," : "", shape[i]);
    if (u < len) snprintf(buf + u, len - u, "]");
}

ts_status ts_tfjs_get(const ts_tfjs *t, const char *name, int rank, const int *shape,
                      const ts_tfjs_weight **out)
{
    *out = NULL;
    const ts_tfjs_weight *w = ts_tfjs_find(t, name);
    if (!w) return ts_error(TS_ERR_FORMAT, "%s: weight %s missing", t->source, name);
    int same = w->rank == rank;
    for (int i = 0; same && i < rank; i++) same = w->shape[i] == shape[i];
    if (!same) {
        char want[96], got[96];
        shape_str(want, sizeof want, rank, shape);
        shape_str(got, sizeof got, w->rank, w->shape);
        return ts_error(TS_ERR_FORMAT, "%s: weight %s has shape %s, expected %s", t->source, name,
                        got, want);
    }
    *out = w;
    return TS_OK;
}

void ts_tfjs_free(ts_tfjs *t)
{
    if (!t) return;
    free(t->values);
    free(t->weights);
    free(t);
}
