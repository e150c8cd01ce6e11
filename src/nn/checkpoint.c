/* checkpoint.c - ts_model to and from safetensors files; see model.h.
 *
 * Format (the Hugging Face safetensors specification):
 *     bytes 0..7   N, unsigned 64-bit little-endian
 *     bytes 8..8+N JSON object, UTF-8; may end in spaces (padding)
 *     the rest     data section; each tensor's "data_offsets" [begin, end)
 *                  are relative to its start, little-endian, row-major
 * The specification requires the tensors to cover the data section exactly:
 * no holes, no overlaps.  We write F32 or F16 and read F32, F16 and BF16.
 *
 * Writing: the content hash (SHA-256 of the data section) goes into the
 * header, so the data is encoded twice in small chunks (once to hash, once
 * to write) instead of holding a second copy of a large model in memory.
 * The file goes through ts_atomic_open/commit: a failure never leaves a
 * half-written checkpoint in place of the old one.
 *
 * Reading treats every byte as hostile.  The order of the checks is:
 * header length, UTF-8 and JSON, metadata fields, the architecture's
 * shapes and parameter count bounded by the data section (before any
 * parameter memory is reserved), the architecture built from its text,
 * then each tensor (name, dtype, shape, offsets), coverage of the data
 * section, the content hash, and only then are bytes converted.
 * Messages start with the file name and name the field or tensor at fault.
 *
 * Assumes a little-endian host (checked at compile time).
 */
#include "nn/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nn/arch.h"
#include "nn/fileio.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c reads and writes little-endian data in place"
#endif

#define CHECKPOINT_VERSION "1"
#define HASH_PREFIX "sha256:"
/* Floats converted per chunk while hashing and writing. */
#define CHUNK 16384
/* Metadata keys accepted (ours are about 20; the duplicate check is quadratic). */
#define MAX_META_KEYS 256

/* ---- numbers ------------------------------------------------------------ */

/* float -> IEEE binary16, round to nearest even, overflow to infinity. */
static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf, nan (keep nan quiet) */
        return sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0);
    if (ax >= 0x477ff000u) /* >= 65520 rounds past the largest half */
        return sign | 0x7c00;
    if (ax < 0x38800000u) { /* below 2^-14: half subnormal (unit 2^-24) or zero */
        float a;
        memcpy(&a, &ax, 4);
        /* exact scaling by a power of two; rintf rounds half to even */
        return sign | (uint16_t)rintf(a * 16777216.0f);
    }
    uint32_t h = ((ax >> 23) - 112) << 10 | (ax & 0x7fffffu) >> 13; /* rebias 127 -> 15 */
    uint32_t rest = ax & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++; /* may carry into the exponent */
    return sign | (uint16_t)h;
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    uint32_t x;
    if (e == 0) {
        float f = (float)m * (1.0f / 16777216.0f);
        memcpy(&x, &f, 4);
        x |= sign;
    } else if (e == 31) {
        x = sign | 0x7f800000u | m << 13;
    } else {
        x = sign | (e + 112) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static size_t dtype_size(ts_dtype d) { return d == TS_DTYPE_F32 ? 4 : 2; }
static const char *dtype_name(ts_dtype d)
{
    return d == TS_DTYPE_F32 ? "F32" : d == TS_DTYPE_F16 ? "F16" : "BF16";
}

/* ---- the tensor list ---------------------------------------------------- */

int ts_model_tensors(const ts_model *m, ts_model_tensor *out, int max)
{
    static const char *const what[4] = { "weight", "bias", "running_mean", "running_var" };
    const ts_graph *g = m->graph;
    int k = 0;
    for (int i = 1; i < g->n_nodes; i++) {
        const ts_node *n = &g->nodes[i];
        const ts_tensor *ts[4] = { &n->weight, &n->bias, &n->run_mean, &n->run_var };
        for (int b = 0; b < 4; b++) {
            const ts_tensor *t = ts[b];
            if (!t->data) continue;
            if (k < max) {
                ts_model_tensor *e = &out[k];
                memset(e, 0, sizeof *e);
                snprintf(e->name, sizeof e->name, "%s.%s", n->name, what[b]);
                e->t = t;
                if (b || n->op == TS_OP_BATCHNORM) { /* bias, batchnorm's vectors (1,C,1,1) -> (C) */
                    e->ndim = 1;
                    e->shape[0] = t->c;
                } else if (n->op == TS_OP_FC) { /* (O,K,1,1) -> (O,K) */
                    e->ndim = 2;
                    e->shape[0] = t->n;
                    e->shape[1] = t->c;
                } else { /* conv2d: (O,C/g,KH,KW) as it is */
                    e->ndim = 4;
                    e->shape[0] = t->n;
                    e->shape[1] = t->c;
                    e->shape[2] = t->h;
                    e->shape[3] = t->w;
                }
            }
            k++;
        }
    }
    return k;
}

/* ---- writing ------------------------------------------------------------ */

/* Copies floats [off, off+n) of a parameter tensor to host memory. */
static ts_status param_floats(const ts_graph *g, const ts_tensor *t, size_t off, size_t n, float *dst)
{
    return ts_graph_read(g, t->data + off, dst, n);
}

/* Streams the encoded data section to the hash and, if f, to the file. */
static ts_status encode_data(const ts_model *m, const ts_model_tensor *ts, int n, ts_dtype dtype,
                             ts_sha256 *hash, FILE *f, const char *path)
{
    float *chunk = malloc(CHUNK * sizeof *chunk);
    uint16_t *half = malloc(CHUNK * sizeof *half);
    ts_status st = TS_OK;
    if (!chunk || !half) st = ts_error(TS_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; i < n && st == TS_OK; i++) {
        size_t total = ts_tensor_numel(ts[i].t);
        for (size_t off = 0; off < total && st == TS_OK; off += CHUNK) {
            size_t k = total - off < CHUNK ? total - off : CHUNK;
            if ((st = param_floats(m->graph, ts[i].t, off, k, chunk)) != TS_OK) break;
            const void *bytes = chunk;
            if (dtype == TS_DTYPE_F16) {
                for (size_t j = 0; j < k; j++) half[j] = f32_to_f16(chunk[j]);
                bytes = half;
            }
            /* A NaN, an infinity or a value past half precision's 65504
             * would make a file every reader refuses (ts_model_check_finite):
             * not written at all. */
            for (size_t j = 0; j < k; j++) {
                bool ok = dtype == TS_DTYPE_F16 ? (half[j] & 0x7c00) != 0x7c00 : isfinite(chunk[j]);
                if (!ok) {
                    st = ts_error(TS_ERR_ARG, "%s: tensor '%s' value %g at index %zu cannot be stored%s", path,
                                  ts[i].name, (double)chunk[j], off + j,
                                  isfinite(chunk[j]) ? " as f16 (beyond +-65504)" : ": it is not finite");
                    break;
                }
            }
            if (st != TS_OK) break;
            size_t len = k * dtype_size(dtype);
            if (hash) ts_sha256_update(hash, bytes, len);
            if (f && fwrite(bytes, 1, len, f) != len)
                st = ts_error(TS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        }
    }
    free(chunk);
    free(half);
    return st;
}

static char *float_array_json(const float *v, int n)
{
    char *s = malloc((size_t)n * 24 + 3);
    if (!s) return NULL;
    size_t k = 0;
    s[k++] = '[';
    for (int i = 0; i < n; i++) k += (size_t)sprintf(s + k, "%s%.9g", i ? "," : "", v[i]);
    s[k++] = ']';
    s[k] = '\0';
    return s;
}

/* The "__metadata__" object; NULL when out of memory. */
static cJSON *metadata_json(const ts_model *m, const char *hash_hex)
{
    const ts_model_meta *md = &m->meta;
    cJSON *o = cJSON_CreateObject();
    char num[96]; /* holds "sha256:" + 64 hex digits */
    bool ok = o != NULL;
#define PUT(key, value) ok = ok && cJSON_AddStringToObject(o, key, value) != NULL
    PUT("format", "pt");
    PUT("traitscope", CHECKPOINT_VERSION);
    PUT("arch", md->arch);
    PUT("arch_text", md->arch_text);
    PUT("trait", md->trait);
    cJSON *classes = cJSON_CreateStringArray((const char *const *)md->classes, md->n_classes);
    char *classes_s = classes ? cJSON_PrintUnformatted(classes) : NULL;
    cJSON_Delete(classes);
    ok = ok && classes_s;
    PUT("classes", classes_s);
    free(classes_s);
    snprintf(num, sizeof num, "%d", md->in_channels);
    PUT("in_channels", num);
    snprintf(num, sizeof num, "%d", md->in_size);
    PUT("input_size", num);
    PUT("channel_order", md->in_channels == 4 ? "RGB+A" : "RGB");
    PUT("pixel_scale", "1/255");
    char *mean = float_array_json(md->mean, md->in_channels);
    char *std = float_array_json(md->std, md->in_channels);
    ok = ok && mean && std;
    PUT("input_mean", mean);
    PUT("input_std", std);
    free(mean);
    free(std);
    if (md->in_channels == 4) PUT("amap_encoding", md->amap_encoding);
    PUT("landmarks", ts_landmark_method_name(md->landmarks));
    PUT("alignment", ts_alignment_name(md->alignment));
    PUT("training", md->training);
    if (md->test_accuracy >= 0) {
        snprintf(num, sizeof num, "%.17g", md->test_accuracy);
        PUT("test_accuracy", num);
    }
    snprintf(num, sizeof num, HASH_PREFIX "%s", hash_hex);
    PUT("content_hash", num);
#undef PUT
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

ts_status ts_model_save(ts_model *m, const char *path, ts_dtype dtype)
{
    if (dtype != TS_DTYPE_F32 && dtype != TS_DTYPE_F16)
        return ts_error(TS_ERR_ARG, "%s: checkpoints are written as F32 or F16, not %s", path,
                        dtype_name(dtype));
    /* A file the reader would refuse is not written at all. */
    for (int c = 0; c < m->meta.in_channels && c < TS_MODEL_MAX_CHANNELS; c++)
        if (!isfinite(m->meta.mean[c]) || !isfinite(m->meta.std[c]) || !(m->meta.std[c] > 0))
            return ts_error(TS_ERR_ARG, "%s: the input normalisation of channel %d (mean %g, std %g) is not a finite"
                            " mean and a std > 0", path, c, (double)m->meta.mean[c], (double)m->meta.std[c]);
    int n = ts_model_tensors(m, NULL, 0);
    ts_model_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
    if (!ts) return ts_error(TS_ERR_OOM, "%s: out of memory", path);
    ts_model_tensors(m, ts, n);

    /* Pass 1: the content hash. */
    ts_sha256 sh;
    uint8_t digest[32];
    char hex[TS_SHA256_HEX_LEN + 1];
    ts_sha256_init(&sh);
    ts_status st = encode_data(m, ts, n, dtype, &sh, NULL, path);
    if (st != TS_OK) {
        free(ts);
        return st;
    }
    ts_sha256_final(&sh, digest);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);

    /* The header: metadata first, then tensors in data order. */
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = metadata_json(m, hex);
    bool ok = root && meta;
    if (ok) cJSON_AddItemToObject(root, "__metadata__", meta);
    else cJSON_Delete(meta);
    size_t offset = 0;
    for (int i = 0; i < n && ok; i++) {
        size_t bytes = ts_tensor_numel(ts[i].t) * dtype_size(dtype);
        cJSON *e = cJSON_CreateObject();
        cJSON *shape = cJSON_CreateIntArray(ts[i].shape, ts[i].ndim);
        double offs[2] = { (double)offset, (double)(offset + bytes) };
        cJSON *range = cJSON_CreateDoubleArray(offs, 2);
        ok = e && shape && range && cJSON_AddStringToObject(e, "dtype", dtype_name(dtype));
        if (ok) {
            cJSON_AddItemToObject(e, "shape", shape);
            cJSON_AddItemToObject(e, "data_offsets", range);
            cJSON_AddItemToObject(root, ts[i].name, e);
        } else {
            cJSON_Delete(e);
            cJSON_Delete(shape);
            cJSON_Delete(range);
        }
        offset += bytes;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) {
        free(ts);
        return ts_error(TS_ERR_OOM, "%s: out of memory building the header", path);
    }
    /* Pad with spaces so that the data section starts 8-byte aligned. */
    size_t hlen = strlen(json);
    size_t padded = (hlen + 7) / 8 * 8;
    uint8_t len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (uint8_t)((uint64_t)padded >> (8 * i));

    /* Pass 2: the file. */
    ts_atomic_file af;
    st = ts_atomic_open(&af, path);
    if (st == TS_OK) {
        if (fwrite(len_le, 1, 8, af.f) != 8 || fwrite(json, 1, hlen, af.f) != hlen ||
            fwrite("        ", 1, padded - hlen, af.f) != padded - hlen)
            st = ts_error(TS_ERR_IO, "%s: write failed: %s", path, ts_atomic_strerror(&af));
        if (st == TS_OK) st = encode_data(m, ts, n, dtype, NULL, af.f, path);
        if (st == TS_OK) st = ts_atomic_commit(&af);
        else ts_atomic_abort(&af);
    }
    free(json);
    free(ts);
    if (st == TS_OK) memcpy(m->meta.hash, hex, sizeof hex);
    return st;
}

/* ---- reading ------------------------------------------------------------ */

/* Sets a TS_ERR_FORMAT message "NAME: <fmt>" and returns TS_ERR_FORMAT. */
static ts_status __attribute__((format(printf, 2, 3))) bad(const char *name, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ts_error(TS_ERR_FORMAT, "%s: %s", name, msg);
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF).  Returns the
 * offset of the first bad byte, or len. */
static size_t utf8_check(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xe0) == 0xc0) { k = 1; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { k = 2; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (len - i <= k) return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += k + 1;
    }
    return len;
}

/* A metadata string value, or NULL (and an error) if absent/not a string. */
static const char *meta_string(const cJSON *meta, const char *key, bool required, const char *name,
                               ts_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    if (!v) {
        if (required) *st = bad(name, "metadata has no '%s'", key);
        return NULL;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        *st = bad(name, "metadata '%s' is not a string", key);
        return NULL;
    }
    return v->valuestring;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    if (!s[0] || s[0] == ' ' || s[0] == '+') return false;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

/* A JSON array of exactly n finite numbers in a metadata string. */
static ts_status parse_floats(const char *s, int n, float *out, const char *key, const char *name)
{
    cJSON *a = cJSON_Parse(s);
    ts_status st = TS_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        st = bad(name, "metadata '%s' must be a JSON array of %d numbers, found '%.64s'", key, n, s);
    } else {
        int i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, a) {
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > 1e30) {
                st = bad(name, "metadata '%s'[%d] is not a finite number", key, i);
                break;
            }
            out[i++] = (float)v->valuedouble;
        }
    }
    cJSON_Delete(a);
    return st;
}

/* Everything the metadata says, before a model exists. */
typedef struct parsed_meta {
    const char *arch, *arch_text, *trait, *training, *amap_encoding;
    int in_channels, size, n_classes;
    char **classes;
    float mean[TS_MODEL_MAX_CHANNELS], std[TS_MODEL_MAX_CHANNELS];
    ts_landmark_method landmarks;
    ts_alignment alignment;
    double test_accuracy;
    char hash[TS_SHA256_HEX_LEN + 1];
} parsed_meta;

static void parsed_meta_clear(parsed_meta *p)
{
    if (p->classes)
        for (int i = 0; i < p->n_classes; i++) free(p->classes[i]);
    free(p->classes);
    p->classes = NULL;
}

static ts_status parse_classes(const char *s, parsed_meta *p, const char *name)
{
    cJSON *a = cJSON_Parse(s);
    ts_status st = TS_OK;
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (n < 1 || n > TS_MODEL_MAX_CLASSES) {
        st = bad(name, "metadata 'classes' must be a JSON array of 1..%d names", TS_MODEL_MAX_CLASSES);
    } else if (!(p->classes = calloc((size_t)n, sizeof *p->classes))) {
        st = ts_error(TS_ERR_OOM, "%s: out of memory", name);
    } else {
        p->n_classes = n;
        int i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, a) {
            if (!cJSON_IsString(v) || !v->valuestring) {
                st = bad(name, "metadata 'classes'[%d] is not a string", i);
                break;
            }
            if (!(p->classes[i++] = strdup(v->valuestring))) {
                st = ts_error(TS_ERR_OOM, "%s: out of memory", name);
                break;
            }
        }
    }
    cJSON_Delete(a);
    return st;
}

static ts_status parse_metadata(const cJSON *meta, const char *name, parsed_meta *p)
{
    ts_status st = TS_OK;
    memset(p, 0, sizeof *p);
    p->test_accuracy = -1;
    /* Every value must be a string, whatever the key (the format says so;
     * PyTorch's loader refuses anything else). */
    const cJSON *it;
    if (cJSON_GetArraySize(meta) > MAX_META_KEYS)
        return bad(name, "metadata has more than %d keys", MAX_META_KEYS);
    cJSON_ArrayForEach(it, meta) {
        if (!cJSON_IsString(it)) return bad(name, "metadata '%s' is not a string", it->string);
        for (const cJSON *o = meta->child; o != it; o = o->next)
            if (!strcmp(o->string, it->string))
                return bad(name, "metadata key '%s' appears twice", it->string);
    }
    const char *version = meta_string(meta, "traitscope", true, name, &st);
    if (!version) return st;
    if (strcmp(version, CHECKPOINT_VERSION) != 0)
        return bad(name, "checkpoint layout version '%.32s' is not supported (this build reads '%s')",
                   version, CHECKPOINT_VERSION);
    const char *s_ch, *s_size, *s_classes, *s_mean, *s_std, *s_lm, *s_al, *s_hash;
    if (!(p->arch = meta_string(meta, "arch", true, name, &st)) ||
        !(p->arch_text = meta_string(meta, "arch_text", true, name, &st)) ||
        !(s_ch = meta_string(meta, "in_channels", true, name, &st)) ||
        !(s_size = meta_string(meta, "input_size", true, name, &st)) ||
        !(s_classes = meta_string(meta, "classes", true, name, &st)) ||
        !(s_mean = meta_string(meta, "input_mean", true, name, &st)) ||
        !(s_std = meta_string(meta, "input_std", true, name, &st)) ||
        !(s_lm = meta_string(meta, "landmarks", true, name, &st)) ||
        !(s_al = meta_string(meta, "alignment", true, name, &st)) ||
        !(s_hash = meta_string(meta, "content_hash", true, name, &st)))
        return st;
    p->trait = meta_string(meta, "trait", false, name, &st);
    p->training = meta_string(meta, "training", false, name, &st);
    if (!p->trait) p->trait = "";
    if (!p->training) p->training = "{}";

    if (!parse_int(s_ch, 3, 4, &p->in_channels))
        return bad(name, "metadata 'in_channels' is '%.32s', expected 3 or 4", s_ch);
    if (!parse_int(s_size, TS_MODEL_MIN_SIZE, TS_MODEL_MAX_SIZE, &p->size))
        return bad(name, "metadata 'input_size' is '%.32s', expected %d..%d", s_size,
                   TS_MODEL_MIN_SIZE, TS_MODEL_MAX_SIZE);
    const char *order = meta_string(meta, "channel_order", false, name, &st);
    const char *want_order = p->in_channels == 4 ? "RGB+A" : "RGB";
    if (order && strcmp(order, want_order) != 0)
        return bad(name, "metadata 'channel_order' is '%.32s', expected '%s' for %d channels", order,
                   want_order, p->in_channels);
    const char *scale = meta_string(meta, "pixel_scale", false, name, &st);
    if (scale && strcmp(scale, "1/255") != 0)
        return bad(name, "metadata 'pixel_scale' '%.32s' is not supported (only '1/255')", scale);
    TS_TRY(parse_floats(s_mean, p->in_channels, p->mean, "input_mean", name));
    TS_TRY(parse_floats(s_std, p->in_channels, p->std, "input_std", name));
    for (int c = 0; c < p->in_channels; c++)
        if (!(p->std[c] > 1e-12f))
            return bad(name, "metadata 'input_std'[%d] must be positive", c);
    p->amap_encoding = meta_string(meta, "amap_encoding", p->in_channels == 4, name, &st);
    if (p->in_channels == 4 && !p->amap_encoding) return st;
    if (!p->amap_encoding || p->in_channels != 4) p->amap_encoding = "";
    if (!ts_landmark_method_parse(s_lm, &p->landmarks))
        return bad(name, "metadata 'landmarks' is '%.32s', expected none, ert or cnn", s_lm);
    if (!ts_alignment_parse(s_al, &p->alignment))
        return bad(name, "metadata 'alignment' is '%.32s', expected none, rotation or affine", s_al);
    if (p->landmarks == TS_LANDMARKS_NONE && (p->in_channels == 4 || p->alignment != TS_ALIGN_NONE))
        return bad(name, "metadata 'landmarks' is 'none' but the model needs landmarks (%s)",
                   p->in_channels == 4 ? "4 input channels" : "face alignment");
    cJSON *training = cJSON_Parse(p->training);
    bool training_ok = cJSON_IsObject(training);
    cJSON_Delete(training);
    if (!training_ok) return bad(name, "metadata 'training' is not a JSON object");
    const char *acc = meta_string(meta, "test_accuracy", false, name, &st);
    if (acc) {
        char *end;
        p->test_accuracy = strtod(acc, &end);
        if (!acc[0] || *end || !(p->test_accuracy >= 0 && p->test_accuracy <= 1))
            return bad(name, "metadata 'test_accuracy' is '%.32s', expected a number in [0,1]", acc);
    }
    size_t plen = strlen(HASH_PREFIX);
    if (strncmp(s_hash, HASH_PREFIX, plen) != 0 || strlen(s_hash) != plen + TS_SHA256_HEX_LEN ||
        strspn(s_hash + plen, "0123456789abcdef") != TS_SHA256_HEX_LEN)
        return bad(name, "metadata 'content_hash' must be 'sha256:' and 64 lower-case hex digits");
    memcpy(p->hash, s_hash + plen, TS_SHA256_HEX_LEN + 1);
    return parse_classes(s_classes, p, name);
}

/* One tensor entry of the header, matched to the model. */
typedef struct entry {
    const char *name;          /* the header key */
    ts_dtype dtype;
    size_t begin, end;         /* within the data section */
    const ts_model_tensor *to; /* destination */
} entry;

static int cmp_begin(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static void shape_str(char *buf, size_t len, const int *shape, int ndim)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "(");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%d", i ? "," : "", shape[i]);
    if (k < len) snprintf(buf + k, len - k, ")");
}

/* A non-negative integral JSON number <= max, else false. */
static bool json_size(const cJSON *v, double max, size_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= max) || d != floor(d)) return false;
    *out = (size_t)d;
    return true;
}

/* Checks one header entry against the expected tensors (by name). */
static ts_status check_entry(const cJSON *item, const ts_model_tensor *exp, int n_exp, size_t dlen,
                             const char *name, entry *e)
{
    const char *key = item->string;
    e->name = key;
    e->to = NULL;
    for (int i = 0; i < n_exp; i++)
        if (!strcmp(exp[i].name, key)) e->to = &exp[i];
    if (!e->to)
        return bad(name, "tensor '%.80s' is not a parameter of the architecture", key);
    if (!cJSON_IsObject(item)) return bad(name, "tensor '%s': entry is not a JSON object", key);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt) || !dt->valuestring)
        return bad(name, "tensor '%s': 'dtype' missing or not a string", key);
    if (!strcmp(dt->valuestring, "F32")) e->dtype = TS_DTYPE_F32;
    else if (!strcmp(dt->valuestring, "F16")) e->dtype = TS_DTYPE_F16;
    else if (!strcmp(dt->valuestring, "BF16")) e->dtype = TS_DTYPE_BF16;
    else return bad(name, "tensor '%s': dtype '%.16s' is not supported (F32, F16 or BF16)", key,
                    dt->valuestring);

    /* Shape: compare dimension by dimension with what the architecture makes. */
    char want[96], got[160];
    shape_str(want, sizeof want, e->to->shape, e->to->ndim);
    if (!cJSON_IsArray(shape)) return bad(name, "tensor '%s': 'shape' is not an array", key);
    int ndim = cJSON_GetArraySize(shape);
    int dims[8] = { 0 };
    bool dims_ok = ndim <= 8;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape) {
        size_t v;
        if (i >= 8) break;
        if (!json_size(d, 2147483647.0, &v)) dims_ok = false;
        else dims[i] = (int)v;
        i++;
    }
    if (!dims_ok) return bad(name, "tensor '%s': 'shape' must hold at most 8 non-negative integers", key);
    bool same = ndim == e->to->ndim;
    for (int k = 0; same && k < ndim; k++) same = dims[k] == e->to->shape[k];
    if (!same) {
        shape_str(got, sizeof got, dims, ndim);
        return bad(name, "tensor '%s': shape %s in the file, the architecture expects %s", key, got, want);
    }

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !json_size(cJSON_GetArrayItem(offs, 0), 9007199254740992.0, &e->begin) ||
        !json_size(cJSON_GetArrayItem(offs, 1), 9007199254740992.0, &e->end))
        return bad(name, "tensor '%s': 'data_offsets' must be two non-negative integers", key);
    if (e->begin > e->end)
        return bad(name, "tensor '%s': data_offsets [%zu,%zu] end before they begin", key, e->begin, e->end);
    if (e->end > dlen)
        return bad(name, "tensor '%s': data_offsets [%zu,%zu] run past the %zu-byte data section"
                   " (truncated file?)", key, e->begin, e->end, dlen);
    size_t want_bytes = ts_tensor_numel(e->to->t) * dtype_size(e->dtype);
    if (e->end - e->begin != want_bytes)
        return bad(name, "tensor '%s': %zu bytes of data, %s %s needs %zu", key, e->end - e->begin,
                   want, dtype_name(e->dtype), want_bytes);
    return TS_OK;
}

static void decode(const entry *e, const uint8_t *data)
{
    const uint8_t *src = data + e->begin;
    float *dst = e->to->t->data;
    size_t n = ts_tensor_numel(e->to->t);
    if (e->dtype == TS_DTYPE_F32) {
        memcpy(dst, src, n * 4);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        if (e->dtype == TS_DTYPE_F16) {
            dst[i] = f16_to_f32(h);
        } else {
            uint32_t x = (uint32_t)h << 16;
            memcpy(&dst[i], &x, 4);
        }
    }
}

/* Validates the tensors of the header against m and fills its parameters. */
static ts_status load_tensors(const cJSON *root, const uint8_t *data, size_t dlen, const char *name,
                              const char *hash, ts_model *m)
{
    int n_exp = ts_model_tensors(m, NULL, 0);
    ts_model_tensor *exp = calloc((size_t)n_exp + 1, sizeof *exp);
    entry *es = calloc((size_t)n_exp + 1, sizeof *es);
    bool *seen = calloc((size_t)n_exp + 1, sizeof *seen);
    ts_status st = TS_OK;
    if (!exp || !es || !seen) {
        st = ts_error(TS_ERR_OOM, "%s: out of memory", name);
        goto done;
    }
    ts_model_tensors(m, exp, n_exp);
    int n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (!strcmp(item->string, "__metadata__")) continue;
        entry e;
        if ((st = check_entry(item, exp, n_exp, dlen, name, &e)) != TS_OK) goto done;
        int idx = (int)(e.to - exp);
        if (seen[idx]) {
            st = bad(name, "tensor '%s' appears twice in the header", e.name);
            goto done;
        }
        seen[idx] = true;
        es[n++] = e; /* n <= n_exp: every entry is a distinct expected tensor */
    }
    for (int i = 0; i < n_exp; i++)
        if (!seen[i]) {
            st = bad(name, "tensor '%s' is missing (the architecture has %d parameter tensors, the"
                     " file %d)", exp[i].name, n_exp, n);
            goto done;
        }
    /* The data section must be covered exactly: sorted, each tensor starts
     * where the previous ended, the last ends at the end of the file. */
    qsort(es, (size_t)n, sizeof *es, cmp_begin);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (es[i].begin < at) {
            st = bad(name, "tensors '%s' and '%s' overlap in the data section", es[i - 1].name,
                     es[i].name);
            goto done;
        }
        if (es[i].begin > at) {
            st = bad(name, "%zu unused bytes before tensor '%s' in the data section",
                     es[i].begin - at, es[i].name);
            goto done;
        }
        at = es[i].end;
    }
    if (at != dlen) {
        st = bad(name, "%zu bytes after the last tensor (the data section is %zu bytes, the tensors"
                 " cover %zu)", dlen - at, dlen, at);
        goto done;
    }
    char got[TS_SHA256_HEX_LEN + 1];
    ts_sha256_hex(data, dlen, got);
    if (strcmp(got, hash) != 0) {
        st = bad(name, "content hash mismatch: the metadata says sha256:%s, the data hashes to"
                 " sha256:%s (corrupted or edited file)", hash, got);
        goto done;
    }
    for (int i = 0; i < n; i++) decode(&es[i], data);
done:
    free(exp);
    free(es);
    free(seen);
    return st;
}

ts_status ts_model_load_buffer(const uint8_t *buf, size_t len, const char *name, ts_model **out)
{
    *out = NULL;
    if (len < 8)
        return bad(name, "file is %zu bytes, too short for a safetensors header (truncated?)", len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen < 2)
        return bad(name, "header length %llu is too small", (unsigned long long)hlen);
    if (hlen > len - 8)
        return bad(name, "header length %llu runs past the end of the %zu-byte file (truncated,"
                   " or not a safetensors file)", (unsigned long long)hlen, len);
    if (hlen > TS_CHECKPOINT_MAX_HEADER)
        return bad(name, "header length %llu is more than the %u accepted",
                   (unsigned long long)hlen, TS_CHECKPOINT_MAX_HEADER);
    const uint8_t *header = buf + 8, *data = buf + 8 + hlen;
    size_t dlen = len - 8 - (size_t)hlen;
    if (header[0] != '{') return bad(name, "header does not start with '{' (not a safetensors file)");
    const uint8_t *nul = memchr(header, 0, (size_t)hlen);
    if (nul) return bad(name, "header has a NUL byte at offset %zu", (size_t)(nul - buf));
    size_t u = utf8_check(header, (size_t)hlen);
    if (u != hlen) return bad(name, "header is not valid UTF-8 at offset %zu", u + 8);

    char *text = malloc((size_t)hlen + 1);
    if (!text) return ts_error(TS_ERR_OOM, "%s: out of memory", name);
    memcpy(text, header, (size_t)hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    ts_status st = TS_OK;
    parsed_meta pm = { 0 };
    ts_model *m = NULL;
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        st = bad(name, "header is not valid JSON (at byte %zu)", at + 8);
        goto done;
    }
    if (end[strspn(end, " \t\r\n")] != '\0') {
        st = bad(name, "header has data after its JSON object (at byte %zu)", (size_t)(end - text) + 8);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        st = bad(name, "header is not a JSON object");
        goto done;
    }
    const cJSON *meta = NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if (!it->string) continue;
        if (!strcmp(it->string, "__metadata__")) {
            if (meta) {
                st = bad(name, "header has two '__metadata__' objects");
                goto done;
            }
            meta = it;
        }
    }
    if (!cJSON_IsObject(meta)) {
        st = bad(name, "header has no '__metadata__' object: not a Traitscope checkpoint");
        goto done;
    }
    if ((st = parse_metadata(meta, name, &pm)) != TS_OK) goto done;

    /* Sizes before memory: the architecture's parameters must fit in the
     * data section (2 bytes each at the least, F16/BF16) before the graph
     * reserves them, so a small file cannot make us reserve gigabytes. */
    size_t n_params = 0;
    st = ts_arch_param_count(pm.arch_text, "arch_text", &n_params);
    if (st == TS_OK && n_params > dlen / 2) {
        st = bad(name, "the architecture has %zu parameters; the %zu-byte data section holds at most %zu"
                 " (truncated file, or an architecture that does not belong to it)", n_params, dlen, dlen / 2);
        goto done;
    }
    if (st == TS_OK) st = ts_model_new_from_text(pm.arch, pm.arch_text, pm.in_channels, pm.size, pm.n_classes, &m);
    if (st != TS_OK) {
        /* Keep the parser's message, say where it came from. */
        st = ts_error_prefix(st == TS_ERR_ARG ? TS_ERR_FORMAT : st, "%s: ", name);
        goto done;
    }
    if ((st = load_tensors(root, data, dlen, name, pm.hash, m)) != TS_OK) goto done;

    /* The model takes over the parsed metadata. */
    if ((st = ts_model_set_trait(m, pm.trait)) != TS_OK ||
        (st = ts_model_set_training(m, pm.training)) != TS_OK ||
        (st = ts_model_set_classes(m, pm.n_classes, (const char *const *)pm.classes)) != TS_OK)
        goto done;
    char *enc = strdup(pm.amap_encoding);
    if (!enc) {
        st = ts_error(TS_ERR_OOM, "%s: out of memory", name);
        goto done;
    }
    free(m->meta.amap_encoding);
    m->meta.amap_encoding = enc;
    memcpy(m->meta.mean, pm.mean, sizeof pm.mean);
    memcpy(m->meta.std, pm.std, sizeof pm.std);
    m->meta.landmarks = pm.landmarks;
    m->meta.alignment = pm.alignment;
    m->meta.test_accuracy = pm.test_accuracy;
    memcpy(m->meta.hash, pm.hash, sizeof pm.hash);
    /* The hash only proves the bytes are the ones written: a NaN written
     * (or a file edited and re-hashed) passes it. */
    st = ts_model_check_finite(m, name);
done:
    if (st != TS_OK) ts_model_free(m);
    else *out = m;
    parsed_meta_clear(&pm);
    cJSON_Delete(root);
    free(text);
    return st;
}

ts_status ts_model_load(const char *path, ts_model **out)
{
    *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    TS_TRY(ts_read_file(path, TS_CHECKPOINT_MAX_FILE, &buf, &len));
    ts_status st = ts_model_load_buffer(buf, len, path, out);
    free(buf);
    return st;
}
