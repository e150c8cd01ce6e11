/* test-checkpoint.c - safetensors checkpoints of ts_model (nn/checkpoint.c).
 *
 * Builds the tiny test network (tests/nn/tiny.arch), saves and reloads it,
 * and feeds the reader damaged variants of the file.  Checks:
 *   - F32 round trip: every parameter bitwise equal, every metadata field
 *     equal, the content hash equal to an independent SHA-256 of the data
 *     section (coreutils' sha256sum over the bytes, not our ts_sha256);
 *   - F16 round trip: values within half precision, file about half the
 *     size, saving again reproduces the same bytes; BF16 is read;
 *   - refused with a message naming the file and the fault: truncations at
 *     every interesting length, a corrupt header, a wrong shape (from the
 *     header and from the architecture), a missing, an extra and a
 *     duplicated tensor, overlapping offsets, a flipped data byte (hash),
 *     an architecture whose parameters the data section cannot hold (refused
 *     by the size check that runs before the graph reserves anything);
 *   - a failed write (file size limit) leaves the previous file intact.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "nn/fileio.h"
#include "nn/model.h"

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

static char tmpdir[512];
static char arch_path[1024];

static char *path_in_tmp(const char *name)
{
    static char buf[4][1024];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    ts_status st = ts_read_file(path, (size_t)1 << 30, &buf, len);
    if (st != TS_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, ts_last_error());
        exit(1);
    }
    return buf;
}

static ts_model *tiny_model(int channels, uint64_t seed)
{
    static const char *const names[] = { "female", "male" };
    ts_model_options o = { .in_channels = channels, .size = 16, .classes = 2, .class_names = names,
                           .trait = "gender", .seed = seed, .alignment = TS_ALIGN_ROTATION };
    ts_model *m = NULL;
    ts_status st = ts_model_new(arch_path, &o, &m);
    if (st != TS_OK) {
        fprintf(stderr, "ts_model_new(%s): %s\n", arch_path, ts_last_error());
        exit(1);
    }
    return m;
}

/* Compares metadata and, when `bitwise`, every parameter byte. */
static void check_same(const ts_model *a, const ts_model *b, bool bitwise)
{
    const ts_model_meta *x = &a->meta, *y = &b->meta;
    CHECK(!strcmp(x->arch, y->arch));
    CHECK(!strcmp(x->arch_text, y->arch_text));
    CHECK(!strcmp(x->trait, y->trait));
    CHECK(x->n_classes == y->n_classes);
    for (int i = 0; i < x->n_classes && i < y->n_classes; i++) CHECK(!strcmp(x->classes[i], y->classes[i]));
    CHECK(x->in_channels == y->in_channels);
    CHECK(x->in_size == y->in_size);
    CHECK(!memcmp(x->mean, y->mean, sizeof(float) * (size_t)x->in_channels));
    CHECK(!memcmp(x->std, y->std, sizeof(float) * (size_t)x->in_channels));
    CHECK(!strcmp(x->amap_encoding, y->amap_encoding));
    CHECK(x->landmarks == y->landmarks);
    CHECK(x->alignment == y->alignment);
    CHECK(!strcmp(x->training, y->training));
    CHECK(x->test_accuracy == y->test_accuracy);
    CHECK(!strcmp(x->hash, y->hash));
    CHECK(ts_graph_param_count(a->graph) == ts_graph_param_count(b->graph));
    if (!bitwise) return;
    ts_model_tensor ta[64], tb[64];
    int na = ts_model_tensors(a, ta, 64), nb = ts_model_tensors(b, tb, 64);
    CHECK(na == nb && na > 0 && na <= 64);
    for (int i = 0; i < na && i < nb && i < 64; i++) {
        CHECK(!strcmp(ta[i].name, tb[i].name));
        CHECK(ts_tensor_numel(ta[i].t) == ts_tensor_numel(tb[i].t));
        CHECK(!memcmp(ta[i].t->data, tb[i].t->data, ts_tensor_numel(ta[i].t) * sizeof(float)));
    }
}

/* Header length of a file image. */
/* SHA-256 of n bytes by coreutils' sha256sum (an implementation that is not
 * ours), as 64 hex digits into hex; false (and a message) if it cannot run. */
static bool sha256sum_hex(const uint8_t *data, size_t n, char hex[65])
{
    const char *p = path_in_tmp("data-section.bin");
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", p);
        return false;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", p);
    FILE *pipe = popen(cmd, "r");
    char line[256] = "";
    bool ok = pipe && fgets(line, sizeof line, pipe) != NULL;
    if (pipe && pclose(pipe) != 0) ok = false;
    if (!ok || strspn(line, "0123456789abcdef") != 64) {
        fprintf(stderr, "sha256sum did not run or printed '%s'\n", line);
        return false;
    }
    memcpy(hex, line, 64);
    hex[64] = '\0';
    return true;
}

static size_t header_len(const uint8_t *buf)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    return (size_t)n;
}

/* A copy of the file image with the first `find` in the header replaced by
 * `repl` (header length updated, data section unchanged).  NULL if absent. */
static uint8_t *edit_header(const uint8_t *buf, size_t len, const char *find, const char *repl, size_t *out_len)
{
    size_t h = header_len(buf);
    char *hdr = malloc(h + 1);
    memcpy(hdr, buf + 8, h);
    hdr[h] = '\0';
    char *at = strstr(hdr, find);
    if (!at) {
        fprintf(stderr, "edit_header: '%s' not in the header\n", find);
        failures++;
        free(hdr);
        return NULL;
    }
    size_t nh = h - strlen(find) + strlen(repl);
    *out_len = 8 + nh + (len - 8 - h);
    uint8_t *out = malloc(*out_len);
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)((uint64_t)nh >> (8 * i));
    size_t pre = (size_t)(at - hdr);
    memcpy(out + 8, hdr, pre);
    memcpy(out + 8 + pre, repl, strlen(repl));
    memcpy(out + 8 + pre + strlen(repl), at + strlen(find), h - pre - strlen(find));
    memcpy(out + 8 + nh, buf + 8 + h, len - 8 - h);
    free(hdr);
    return out;
}

/* The reader must refuse buf with a message naming the file and `want`. */
static void expect_refused(const uint8_t *buf, size_t len, const char *what, const char *want)
{
    ts_model *m = (ts_model *)1;
    ts_status st = ts_model_load_buffer(buf, len, "bad.safetensors", &m);
    const char *msg = ts_last_error();
    printf("  %-28s -> %s\n", what, msg);
    CHECK(st != TS_OK);
    CHECK(m == NULL);
    CHECK(strstr(msg, "bad.safetensors") != NULL);
    if (want && !strstr(msg, want)) {
        fprintf(stderr, "%s: message lacks '%s'\n", what, want);
        failures++;
    }
    if (st == TS_OK) ts_model_free(m);
}

static void test_round_trip_f32(void)
{
    ts_model *m = tiny_model(3, 7);
    CHECK(ts_model_set_training(m, "{\"optimizer\":\"sgd\",\"lr\":0.01,\"epochs\":3}") == TS_OK);
    m->meta.test_accuracy = 0.8125;
    m->meta.mean[1] = 0.1f / 3.0f; /* a value that needs all 9 digits */
    m->meta.landmarks = TS_LANDMARKS_CNN;
    const char *p = path_in_tmp("tiny.safetensors");
    CHECK(m->meta.hash[0] == '\0');
    CHECK(ts_model_save(m, p, TS_DTYPE_F32) == TS_OK);
    CHECK(strlen(m->meta.hash) == TS_SHA256_HEX_LEN);

    /* The hash is SHA-256 of the data section as stored; data is 8-aligned. */
    size_t len;
    uint8_t *buf = slurp(p, &len);
    size_t h = header_len(buf);
    CHECK((8 + h) % 8 == 0);
    char hex[65] = "";
    CHECK(sha256sum_hex(buf + 8 + h, len - 8 - h, hex));
    CHECK(!strcmp(hex, m->meta.hash));
    printf("content hash %s = sha256sum of the data section (%s)\n", m->meta.hash, hex);
    CHECK(len - 8 - h == ts_graph_param_count(m->graph) * 4);

    ts_model *r = NULL;
    ts_status st = ts_model_load(p, &r);
    if (st != TS_OK) fprintf(stderr, "load: %s\n", ts_last_error());
    CHECK(st == TS_OK && r);
    if (r) check_same(m, r, true);

    /* Saving the loaded model again gives the same file, byte for byte. */
    const char *p2 = path_in_tmp("tiny-again.safetensors");
    if (r) CHECK(ts_model_save(r, p2, TS_DTYPE_F32) == TS_OK);
    size_t len2;
    uint8_t *buf2 = slurp(p2, &len2);
    CHECK(len2 == len && !memcmp(buf, buf2, len));
    free(buf2);
    free(buf);
    ts_model_free(r);
    ts_model_free(m);
    printf("f32 round trip: ok\n");
}

static void test_round_trip_4ch_f16(void)
{
    ts_model *m = tiny_model(4, 11);
    CHECK(m->meta.in_channels == 4);
    CHECK(!strcmp(m->meta.amap_encoding, TS_AMAP_ENCODING_DEFAULT));
    /* Values that exercise rounding, subnormals and overflow of binary16. */
    ts_model_tensor t[64];
    int n = ts_model_tensors(m, t, 64);
    CHECK(n >= 2);
    float *w = t[0].t->data;
    w[0] = 1.0f + 1.0f / 2048.0f;    /* tie: rounds to even (1.0) */
    w[1] = 1.0f + 3.0f / 2048.0f;    /* tie: rounds up to 1 + 2/1024 */
    w[2] = 1e-7f;                    /* subnormal half */
    w[3] = 70000.0f;                 /* overflow: not storable as f16 */
    w[4] = -65504.0f;                /* largest half */
    w[5] = 0.0f;
    const char *p32 = path_in_tmp("tiny4.safetensors"), *p16 = path_in_tmp("tiny4-f16.safetensors");
    CHECK(ts_model_save(m, p32, TS_DTYPE_F32) == TS_OK);
    /* 70000 would become infinity, which every reader refuses (issue 19):
     * the f16 save refuses it instead, naming the tensor, and writes nothing */
    CHECK(ts_model_save(m, p16, TS_DTYPE_F16) == TS_ERR_ARG);
    CHECK(strstr(ts_last_error(), "cannot be stored as f16") != NULL);
    CHECK(access(p16, F_OK) != 0);
    w[3] = 65504.0f;                 /* largest half */
    CHECK(ts_model_save(m, p16, TS_DTYPE_F16) == TS_OK);
    size_t l32, l16;
    uint8_t *b32 = slurp(p32, &l32), *b16 = slurp(p16, &l16);
    size_t d32 = l32 - 8 - header_len(b32), d16 = l16 - 8 - header_len(b16);
    CHECK(d16 * 2 == d32);

    ts_model *r = NULL;
    ts_status st = ts_model_load(p16, &r);
    if (st != TS_OK) fprintf(stderr, "load f16: %s\n", ts_last_error());
    CHECK(st == TS_OK && r);
    if (r) {
        check_same(m, r, false);
        ts_model_tensor u[64];
        CHECK(ts_model_tensors(r, u, 64) == n);
        const float *v = u[0].t->data;
        CHECK(v[0] == 1.0f);
        CHECK(v[1] == 1.0f + 2.0f / 1024.0f);
        CHECK(v[2] == 2.0f / 16777216.0f); /* 1e-7 is 1.68 units of 2^-24 -> 2 units */
        CHECK(v[3] == 65504.0f);
        CHECK(v[4] == -65504.0f);
        CHECK(v[5] == 0.0f);
        for (int i = 0; i < n; i++)
            for (size_t j = (i == 0 ? 6 : 0); j < ts_tensor_numel(t[i].t); j++) {
                float a = t[i].t->data[j], b = u[i].t->data[j];
                float tol = fabsf(a) * (1.0f / 2048.0f) + 6e-8f;
                if (!(fabsf(a - b) <= tol)) {
                    fprintf(stderr, "f16 %s[%zu]: %g -> %g\n", t[i].name, j, a, b);
                    failures++;
                    break;
                }
            }
        /* Rounding is idempotent: the reloaded model saves to the same bytes. */
        const char *again = path_in_tmp("tiny4-f16-again.safetensors");
        CHECK(ts_model_save(r, again, TS_DTYPE_F16) == TS_OK);
        size_t la;
        uint8_t *ba = slurp(again, &la);
        CHECK(la == l16 && !memcmp(ba, b16, l16));
        free(ba);
    }
    ts_model_free(r);

    /* BF16: the same bytes relabelled are read as bfloat16. */
    size_t lb;
    uint8_t *bb = edit_header(b16, l16, "\"dtype\":\"F16\"", "\"dtype\":\"BF16\"", &lb);
    if (bb) {
        r = NULL;
        st = ts_model_load_buffer(bb, lb, "bf16", &r);
        if (st != TS_OK) fprintf(stderr, "load bf16: %s\n", ts_last_error());
        CHECK(st == TS_OK && r);
        if (r) {
            ts_model_tensor u[64];
            ts_model_tensors(r, u, 64);
            uint16_t raw;
            memcpy(&raw, bb + 8 + header_len(bb), 2); /* first tensor is first in the data */
            uint32_t bits = (uint32_t)raw << 16;
            float want;
            memcpy(&want, &bits, 4);
            CHECK(!memcmp(&u[0].t->data[0], &want, 4));
        }
        ts_model_free(r);
        free(bb);
    }
    free(b32);
    free(b16);
    ts_model_free(m);
    printf("4-channel f16/bf16 round trip: ok\n");
}

static void test_refusals(void)
{
    ts_model *m = tiny_model(3, 3);
    const char *p = path_in_tmp("victim.safetensors");
    CHECK(ts_model_save(m, p, TS_DTYPE_F32) == TS_OK);
    size_t len;
    uint8_t *buf = slurp(p, &len);
    size_t h = header_len(buf);
    printf("refusals:\n");

    /* Truncations: inside the length, inside the header, at the data, inside
     * the last tensor. */
    size_t cuts[] = { 0, 3, 8, 9, 8 + h / 2, 8 + h - 1, 8 + h, 8 + h + 5, len - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", cuts[i]);
        expect_refused(buf, cuts[i], what, NULL);
    }

    uint8_t *b = malloc(len);
    size_t l;
    /* Header length pointing far past the end, and absurdly large. */
    memcpy(b, buf, len);
    b[5] = 0x7f;
    expect_refused(b, len, "huge header length", "header length");
    /* Corrupt JSON in the middle of the header. */
    memcpy(b, buf, len);
    b[8 + h / 2] = '}';
    b[8 + h / 2 + 1] = '\x01';
    expect_refused(b, len, "corrupt header", NULL);
    /* Not UTF-8. */
    memcpy(b, buf, len);
    b[8 + 3] = (uint8_t)0xc0;
    expect_refused(b, len, "invalid utf-8", "UTF-8");
    free(b);

    uint8_t *e;
    if ((e = edit_header(buf, len, "\"shape\":[4,3,3,3]", "\"shape\":[4,3,3,2]", &l))) {
        expect_refused(e, l, "wrong shape in header", "'conv1.weight': shape (4,3,3,2) in the file,"
                       " the architecture expects (4,3,3,3)");
        free(e);
    }
    /* Architecture text that no longer fits the stored tensors. */
    if ((e = edit_header(buf, len, "conv1  out=4", "conv1  out=6", &l))) {
        expect_refused(e, l, "architecture mismatch", "conv1.weight");
        free(e);
    }
    /* An architecture far larger than the file: 131 million parameters
     * (0.5 GB, and as much again for their gradients) for a file of 5 KB.
     * Refused from the sizes alone, before the graph reserves memory: the
     * message is the size check's, not a tensor's. */
    if ((e = edit_header(buf, len, "fc1    out=8", "fc1    out=1000000", &l))) {
        expect_refused(e, l, "architecture too large", "data section holds at most");
        free(e);
    }
    if ((e = edit_header(buf, len, "\"fc2.bias\"", "\"fc9.bias\"", &l))) {
        expect_refused(e, l, "unknown tensor", "'fc9.bias'");
        free(e);
    }
    /* Missing tensor: drop the "fc2.bias" entry (the last one) from the header. */
    {
        char *hdr = malloc(h + 1);
        memcpy(hdr, buf + 8, h);
        hdr[h] = '\0';
        char *at = strstr(hdr, ",\"fc2.bias\"");
        CHECK(at != NULL);
        if (at) {
            char *close = strchr(strchr(at, ']') + 1, '}'); /* end of the entry */
            char find[256];
            snprintf(find, sizeof find, "%.*s", (int)(close + 1 - at), at);
            if ((e = edit_header(buf, len, find, "", &l))) {
                expect_refused(e, l, "missing tensor", "'fc2.bias' is missing");
                free(e);
            }
            /* Duplicate: the fc2.bias entry under the same key twice. */
            char twice[512];
            snprintf(twice, sizeof twice, "%s%s", find, find);
            if ((e = edit_header(buf, len, find, twice, &l))) {
                expect_refused(e, l, "duplicate tensor", "twice");
                free(e);
            }
        }
        free(hdr);
    }
    if ((e = edit_header(buf, len, "\"dtype\":\"F32\"", "\"dtype\":\"I64\"", &l))) {
        expect_refused(e, l, "bad dtype", "dtype 'I64'");
        free(e);
    }
    if ((e = edit_header(buf, len, "\"data_offsets\":[0,", "\"data_offsets\":[4,", &l))) {
        expect_refused(e, l, "bad offsets", "conv1.weight");
        free(e);
    }
    /* Two tensors swapping their ranges would be fine; two sharing one
     * range is not: point conv1.bias at conv1.weight's first 16 bytes. */
    if ((e = edit_header(buf, len, "\"data_offsets\":[432,448]", "\"data_offsets\":[0,16]", &l))) {
        expect_refused(e, l, "overlapping tensors", "overlap");
        free(e);
    }
    if ((e = edit_header(buf, len, "\"in_channels\":\"3\"", "\"in_channels\":3", &l))) {
        expect_refused(e, l, "metadata not a string", "'in_channels' is not a string");
        free(e);
    }
    if ((e = edit_header(buf, len, "\"in_channels\":\"3\"", "\"in_channels\":\"7\"", &l))) {
        expect_refused(e, l, "bad channel count", "in_channels");
        free(e);
    }
    if ((e = edit_header(buf, len, "\"classes\":\"[\\\"female\\\",\\\"male\\\"]\"",
                         "\"classes\":\"[\\\"female\\\"]\"", &l))) {
        expect_refused(e, l, "class count mismatch", NULL);
        free(e);
    }
    if ((e = edit_header(buf, len, "\"landmarks\":\"ert\"", "\"landmarks\":\"none\"", &l))) {
        expect_refused(e, l, "aligned without landmarks", "needs landmarks");
        free(e);
    }
    if ((e = edit_header(buf, len, "\"__metadata__\"", "\"__metadatum\"", &l))) {
        expect_refused(e, l, "no metadata", "__metadata__");
        free(e);
    }
    /* A flipped bit in the data: only the content hash can tell. */
    b = malloc(len);
    memcpy(b, buf, len);
    b[len - 3] ^= 0x10;
    expect_refused(b, len, "flipped data bit", "content hash mismatch");
    /* A forged hash. */
    free(b);
    char forged[80];
    snprintf(forged, sizeof forged, "sha256:%s", m->meta.hash);
    char forged2[80];
    memcpy(forged2, forged, sizeof forged);
    forged2[10] = forged2[10] == '0' ? '1' : '0';
    if ((e = edit_header(buf, len, forged, forged2, &l))) {
        expect_refused(e, l, "bad hash", "content hash mismatch");
        free(e);
    }
    /* The file names itself in ts_model_load's errors too. */
    {
        ts_model *r = NULL;
        char missing[1024];
        snprintf(missing, sizeof missing, "%s/no-such.safetensors", tmpdir);
        CHECK(ts_model_load(missing, &r) == TS_ERR_IO);
        CHECK(strstr(ts_last_error(), "no-such.safetensors") != NULL);
    }
    free(buf);
    ts_model_free(m);
}

static void test_failed_write_keeps_old(void)
{
    ts_model *a = tiny_model(3, 21), *b = tiny_model(3, 22);
    const char *p = path_in_tmp("keep.safetensors");
    CHECK(ts_model_save(a, p, TS_DTYPE_F32) == TS_OK);
    size_t len0;
    uint8_t *before = slurp(p, &len0);

    /* A file size limit below the checkpoint's size makes the write fail
     * half-way (EFBIG instead of SIGXFSZ). */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 1024;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    ts_status st = ts_model_save(b, p, TS_DTYPE_F32);
    setrlimit(RLIMIT_FSIZE, &old);
    printf("failed write -> %s\n", ts_last_error());
    CHECK(st == TS_ERR_IO);
    CHECK(strstr(ts_last_error(), "keep.safetensors") != NULL);

    size_t len1;
    uint8_t *after = slurp(p, &len1);
    CHECK(len0 == len1 && !memcmp(before, after, len0));
    /* and the old file still loads */
    ts_model *r = NULL;
    CHECK(ts_model_load(p, &r) == TS_OK);
    if (r) check_same(a, r, true);
    ts_model_free(r);
    /* no temporary file left behind */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp-", tmpdir);
    CHECK(system(cmd) != 0);
    free(before);
    free(after);
    ts_model_free(a);
    ts_model_free(b);
    printf("failed write keeps the old file: ok\n");
}

int main(void)
{
    const char *src = getenv("TS_SOURCE_ROOT");
    snprintf(arch_path, sizeof arch_path, "%s/tests/nn/tiny.arch", src ? src : ".");
    const char *base = getenv("TS_BUILD_ROOT");
    snprintf(tmpdir, sizeof tmpdir, "%s/test-checkpoint-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip_f32();
    test_round_trip_4ch_f16();
    test_refusals();
    test_failed_write_keeps_old();

    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checkpoint checks passed\n");
    return 0;
}
