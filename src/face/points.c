/* points.c - landmarks JSON and the 68-point scheme (see points.h).
 *
 * The JSON comes from users and other tools, so it is untrusted: the text
 * is length-capped, parsed by cJSON, and every field is checked for type,
 * count and range before anything is stored.
 */
#include "face/points.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "nn/fileio.h"

#define TS_LANDMARKS_MAX_FILE ((size_t)1 << 20)

const int ts_part_range[TS_PART_COUNT][2] = {
    [TS_PART_JAW] = { 0, 16 },       [TS_PART_RIGHT_BROW] = { 17, 21 },
    [TS_PART_LEFT_BROW] = { 22, 26 }, [TS_PART_NOSE] = { 27, 35 },
    [TS_PART_RIGHT_EYE] = { 36, 41 }, [TS_PART_LEFT_EYE] = { 42, 47 },
    [TS_PART_MOUTH] = { 48, 67 },
};

static const char *const part_names[TS_PART_COUNT] = {
    "jaw", "right_brow", "left_brow", "nose", "right_eye", "left_eye", "mouth",
};

/* iBUG 68 mirror pairs.  Points on the vertical midline (nose bridge 27-30,
 * nose tip 33, lip centres 51, 57, 62, 66, chin 8) map to themselves. */
const int ts_mirror_perm68[TS_LANDMARKS] = {
    /* jaw 0..16 reversed */
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
    /* brows 17..21 <-> 26..22 */
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
    /* nose bridge 27..30, nostrils 31..35 */
    27, 28, 29, 30, 35, 34, 33, 32, 31,
    /* right eye 36..41 <-> left eye: outer corner 36<->45, upper lid
     * 37<->44, 38<->43, inner corner 39<->42, lower lid 40<->47, 41<->46 */
    45, 44, 43, 42, 47, 46,
    39, 38, 37, 36, 41, 40,
    /* outer lip 48..59: corners 48<->54, upper 49<->53, 50<->52, lower
     * 55<->59, 56<->58 */
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
    /* inner lip 60..67: corners 60<->64, upper 61<->63, lower 65<->67 */
    64, 63, 62, 61, 60, 67, 66, 65,
};

const char *ts_part_name(ts_face_part part)
{
    return (unsigned)part < TS_PART_COUNT ? part_names[part] : "unknown";
}

ts_face_part ts_part_of_landmark(int i)
{
    for (int p = 0; p < TS_PART_COUNT; p++)
        if (i >= ts_part_range[p][0] && i <= ts_part_range[p][1]) return (ts_face_part)p;
    return TS_PART_COUNT;
}

ts_status ts_points_mirror68(ts_points *pts, int width)
{
    TS_ASSERT(pts);
    if (pts->n != TS_LANDMARKS)
        return ts_error(TS_ERR_ARG, "mirroring needs the 68-point scheme, got %d points", pts->n);
    ts_points tmp = *pts;
    for (int i = 0; i < TS_LANDMARKS; i++) {
        int j = ts_mirror_perm68[i];
        pts->x[j] = (float)(width - 1) - tmp.x[i];
        pts->y[j] = tmp.y[i];
    }
    return TS_OK;
}

void ts_points_eye_centres(const ts_points *pts, float right[2], float left[2])
{
    TS_ASSERT(pts && pts->n == TS_LANDMARKS);
    double r[2] = { 0, 0 }, l[2] = { 0, 0 };
    for (int i = 0; i < 6; i++) {
        r[0] += pts->x[36 + i];
        r[1] += pts->y[36 + i];
        l[0] += pts->x[42 + i];
        l[1] += pts->y[42 + i];
    }
    right[0] = (float)(r[0] / 6);
    right[1] = (float)(r[1] / 6);
    left[0] = (float)(l[0] / 6);
    left[1] = (float)(l[1] / 6);
}

/* ------------------------------------------------------------ JSON in */

static int method_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

static ts_status get_coord(const cJSON *v, const char *name, const char *field, int i, int j,
                           float lim, float *out)
{
    if (!cJSON_IsNumber(v))
        return ts_error(TS_ERR_FORMAT, "%s: %s[%d][%d]: not a number", name, field, i, j);
    double d = v->valuedouble;
    if (!isfinite(d) || fabs(d) > lim)
        return ts_error(TS_ERR_FORMAT, "%s: %s[%d][%d]: %g is out of range (|v| <= %g)", name, field,
                        i, j, d, (double)lim);
    *out = (float)d;
    return TS_OK;
}

static ts_status parse_doc(const cJSON *root, const char *name, ts_landmarks *out)
{
    if (!cJSON_IsObject(root))
        return ts_error(TS_ERR_FORMAT, "%s: the top level is not a JSON object", name);
    /* Duplicate keys would make "which one counts" a parser detail. */
    for (const cJSON *a = root->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && !strcmp(a->string, b->string))
                return ts_error(TS_ERR_FORMAT, "%s: key \"%s\" appears twice", name, a->string);

    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "method");
    if (m) {
        if (!cJSON_IsString(m) || !m->valuestring)
            return ts_error(TS_ERR_FORMAT, "%s: method: not a string", name);
        size_t n = strlen(m->valuestring);
        if (n == 0 || n >= sizeof out->method)
            return ts_error(TS_ERR_FORMAT, "%s: method: length %zu not in 1..%zu", name, n,
                            sizeof out->method - 1);
        for (size_t i = 0; i < n; i++)
            if (!method_char_ok(m->valuestring[i]))
                return ts_error(TS_ERR_FORMAT, "%s: method: character %zu is not one of [A-Za-z0-9_.-]",
                                name, i);
        memcpy(out->method, m->valuestring, n + 1);
    }

    const cJSON *box = cJSON_GetObjectItemCaseSensitive(root, "box");
    if (box) {
        if (!cJSON_IsArray(box) || cJSON_GetArraySize(box) != 4)
            return ts_error(TS_ERR_FORMAT, "%s: box: not an array of 4 numbers [X,Y,W,H]", name);
        int i = 0;
        for (const cJSON *v = box->child; v; v = v->next, i++) {
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
                fabs(v->valuedouble) > TS_POINTS_MAX_COORD)
                return ts_error(TS_ERR_FORMAT, "%s: box[%d]: not a number in range", name, i);
            out->box[i] = (float)v->valuedouble;
        }
        if (!(out->box[2] > 0) || !(out->box[3] > 0))
            return ts_error(TS_ERR_FORMAT, "%s: box: width and height must be > 0 (got %g, %g)", name,
                            (double)out->box[2], (double)out->box[3]);
        out->has_box = 1;
    }

    const cJSON *lms = cJSON_GetObjectItemCaseSensitive(root, "landmarks");
    if (!lms) return ts_error(TS_ERR_FORMAT, "%s: no \"landmarks\" array", name);
    if (!cJSON_IsArray(lms)) return ts_error(TS_ERR_FORMAT, "%s: landmarks: not an array", name);
    int n = cJSON_GetArraySize(lms);
    if (n < 1 || n > TS_POINTS_MAX)
        return ts_error(TS_ERR_FORMAT, "%s: landmarks: %d points, expected 1..%d", name, n, TS_POINTS_MAX);
    int i = 0;
    for (const cJSON *p = lms->child; p; p = p->next, i++) {
        if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2)
            return ts_error(TS_ERR_FORMAT, "%s: landmarks[%d]: not a pair [x,y]", name, i);
        TS_TRY(get_coord(p->child, name, "landmarks", i, 0, TS_POINTS_MAX_COORD, &out->pts.x[i]));
        TS_TRY(get_coord(p->child->next, name, "landmarks", i, 1, TS_POINTS_MAX_COORD, &out->pts.y[i]));
    }
    out->pts.n = n;
    return TS_OK;
}

ts_status ts_landmarks_parse(const char *text, size_t len, const char *name, ts_landmarks *out)
{
    TS_ASSERT(out && name);
    memset(out, 0, sizeof *out);
    if (!text || len == 0) return ts_error(TS_ERR_FORMAT, "%s: empty landmarks file", name);
    if (len > TS_LANDMARKS_MAX_FILE)
        return ts_error(TS_ERR_FORMAT, "%s: %zu bytes, more than a landmarks file may have (%zu)", name,
                        len, TS_LANDMARKS_MAX_FILE);
    if (memchr(text, 0, len))
        return ts_error(TS_ERR_FORMAT, "%s: contains a NUL byte", name);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return ts_error(TS_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", name, off);
    }
    /* Only whitespace may follow the object. */
    for (const char *p = end; p && p < text + len; p++)
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            cJSON_Delete(root);
            return ts_error(TS_ERR_FORMAT, "%s: text after the JSON object (byte %zu)", name,
                            (size_t)(p - text));
        }
    ts_status st = parse_doc(root, name, out);
    cJSON_Delete(root);
    if (st != TS_OK) memset(out, 0, sizeof *out);
    return st;
}

ts_status ts_landmarks_load(const char *path, ts_landmarks *out)
{
    TS_ASSERT(path && out);
    memset(out, 0, sizeof *out);
    uint8_t *buf = NULL;
    size_t len = 0;
    TS_TRY(ts_read_file(path, TS_LANDMARKS_MAX_FILE, &buf, &len));
    ts_status st = ts_landmarks_parse((const char *)buf, len, path, out);
    free(buf);
    return st;
}

/* ----------------------------------------------------------- JSON out */

/* The shortest plain decimal ("30", "159.74") that reads back as the same
 * float; exponent notation only for tiny or huge values. */
static void put_float(char *dst, size_t cap, float v)
{
    if (v == 0 || (fabsf(v) >= 1e-4f && fabsf(v) < 1e9f))
        for (int dec = 0; dec <= 9; dec++) {
            snprintf(dst, cap, "%.*f", dec, (double)v);
            if (strtof(dst, NULL) == v) return;
        }
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(dst, cap, "%.*g", prec, (double)v);
        if (strtof(dst, NULL) == v) return;
    }
}

char *ts_landmarks_to_json(const ts_landmarks *lm)
{
    TS_ASSERT(lm && lm->pts.n >= 0 && lm->pts.n <= TS_POINTS_MAX);
    for (const char *c = lm->method; *c; c++) TS_ASSERT(method_char_ok(*c));
    /* 40 bytes per number is far more than "%.9g" needs. */
    size_t cap = 128 + sizeof lm->method + (size_t)lm->pts.n * 2 * 40 + 4 * 40;
    char *s = malloc(cap), num[40], num2[40];
    if (!s) return NULL;
    size_t at = 0;
    at += (size_t)snprintf(s + at, cap - at, "{");
    if (lm->method[0]) at += (size_t)snprintf(s + at, cap - at, "\"method\":\"%s\",", lm->method);
    if (lm->has_box) {
        at += (size_t)snprintf(s + at, cap - at, "\"box\":[");
        for (int i = 0; i < 4; i++) {
            put_float(num, sizeof num, lm->box[i]);
            at += (size_t)snprintf(s + at, cap - at, "%s%s", i ? "," : "", num);
        }
        at += (size_t)snprintf(s + at, cap - at, "],");
    }
    at += (size_t)snprintf(s + at, cap - at, "\"landmarks\":[");
    for (int i = 0; i < lm->pts.n; i++) {
        put_float(num, sizeof num, lm->pts.x[i]);
        put_float(num2, sizeof num2, lm->pts.y[i]);
        at += (size_t)snprintf(s + at, cap - at, "%s[%s,%s]", i ? "," : "", num, num2);
    }
    snprintf(s + at, cap - at, "]}");
    return s;
}

ts_status ts_landmarks_save(const char *path, const ts_landmarks *lm)
{
    char *s = ts_landmarks_to_json(lm);
    if (!s) return ts_error(TS_ERR_OOM, "%s: out of memory", path);
    size_t n = strlen(s);
    s[n] = '\n'; /* cap leaves room: replaces the NUL, length n+1 written */
    ts_status st = ts_write_file_atomic(path, s, n + 1);
    free(s);
    return st;
}
