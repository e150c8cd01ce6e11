/* cmd-init.c - `traitscope-cli init`: a freshly initialised model file.
 *
 * The start of a training run and a fixture for tests: builds an
 * architecture (built-in name or description file, nn/arch.h), initialises
 * its parameters from a seed and writes a checkpoint (nn/model.h) whose
 * metadata records everything the model needs to be used again.
 *
 * Output (stdout, one JSON line, a contract):
 *   {"model":PATH,"arch":..,"parameters":N,"content_hash":"sha256:..."}
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/arch.h"
#include "nn/model.h"

#define MAX_CLASS_NAMES TS_MODEL_MAX_CLASSES

static void help(void)
{
    printf("usage: traitscope-cli init --arch NAME --out MODEL [options]\n\n"
           "Writes a freshly initialised model (safetensors checkpoint with metadata).\n\n"
           "  --arch NAME           built-in network (");
    for (const char *const *n = ts_arch_builtin_names(); *n; n++)
        printf("%s%s", n == ts_arch_builtin_names() ? "" : ", ", *n);
    printf(")\n"
           "                        or the path of an architecture description file\n"
           "  --out MODEL           file to write (atomically)\n"
           "  --in-channels 3|4     3: RGB baseline (default), 4: LACNN, RGB + A(x,y)\n"
           "  --size N              input side: 150 (LACNN/FAD setting, default) or 227\n"
           "  --classes N           number of outputs (default 2, or the --class-names count)\n"
           "  --class-names A,B,..  class names, comma-separated (default 0,1,...)\n"
           "  --trait NAME          the trait the model predicts (gender, age, ...)\n"
           "  --seed S              initialisation seed (default 1)\n"
           "  --landmarks M         landmark method (for A(x,y) and alignment): none, ert,\n"
           "                        cnn (default: ert for 4 channels or aligned faces)\n"
           "  --alignment A         face alignment: none (default), rotation, affine\n"
           "  --dtype f32|f16       stored precision (default f32)\n");
}

/* Splits "a,b,c" in place into names; returns the count or -1. */
static int split_names(char *s, const char **names, int max)
{
    int n = 0;
    for (char *tok = s;; n++) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        if (!tok[0] || n >= max) return -1;
        names[n] = tok;
        if (!comma) return n + 1;
        tok = comma + 1;
    }
}

int cmd_init(int argc, char **argv)
{
    const char *arch = NULL, *out = NULL, *v;
    char *class_list = NULL;
    ts_model_options o = { .in_channels = 3, .size = 150, .seed = 1 };
    ts_dtype dtype = TS_DTYPE_F32;
    bool landmarks_given = false;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            free(class_list);
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--arch", &v)) {
            arch = v;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            out = v;
        } else if (cli_opt(argc, argv, &i, "--in-channels", &v)) {
            if (!cli_parse_int(v, &o.in_channels) || (o.in_channels != 3 && o.in_channels != 4))
                return cli_usage_error("init", "--in-channels wants 3 or 4, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--size", &v)) {
            if (!cli_parse_int(v, &o.size) || o.size < TS_MODEL_MIN_SIZE || o.size > TS_MODEL_MAX_SIZE)
                return cli_usage_error("init", "--size wants %d..%d (150 or 227 usually), not '%s'",
                                       TS_MODEL_MIN_SIZE, TS_MODEL_MAX_SIZE, v);
        } else if (cli_opt(argc, argv, &i, "--classes", &v)) {
            if (!cli_parse_int(v, &o.classes) || o.classes < 1 || o.classes > TS_MODEL_MAX_CLASSES)
                return cli_usage_error("init", "--classes wants 1..%d, not '%s'", TS_MODEL_MAX_CLASSES, v);
        } else if (cli_opt(argc, argv, &i, "--class-names", &v)) {
            free(class_list);
            class_list = strdup(v);
        } else if (cli_opt(argc, argv, &i, "--trait", &v)) {
            o.trait = v;
        } else if (cli_opt(argc, argv, &i, "--seed", &v)) {
            char *end;
            errno = 0;
            o.seed = strtoull(v, &end, 0);
            if (errno || !v[0] || *end || v[0] == '-')
                return cli_usage_error("init", "--seed wants a non-negative integer, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--landmarks", &v)) {
            if (!ts_landmark_method_parse(v, &o.landmarks))
                return cli_usage_error("init", "--landmarks wants none, ert or cnn, not '%s'", v);
            landmarks_given = true;
        } else if (cli_opt(argc, argv, &i, "--alignment", &v)) {
            if (!ts_alignment_parse(v, &o.alignment))
                return cli_usage_error("init", "--alignment wants none, rotation or affine, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--dtype", &v)) {
            if (!strcmp(v, "f32")) dtype = TS_DTYPE_F32;
            else if (!strcmp(v, "f16")) dtype = TS_DTYPE_F16;
            else return cli_usage_error("init", "--dtype wants f32 or f16, not '%s'", v);
        } else {
            free(class_list);
            return cli_usage_error("init", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!arch || !out) {
        free(class_list);
        return cli_usage_error("init", "--arch and --out are required");
    }
    int refused = cli_refuse_overwrite("init", &out, 1, &arch, 1);
    if (refused) {
        free(class_list);
        return refused;
    }
    static const char *names[MAX_CLASS_NAMES];
    if (class_list) {
        int n = split_names(class_list, names, MAX_CLASS_NAMES);
        if (n < 1 || (o.classes && n != o.classes)) {
            free(class_list);
            return cli_usage_error("init", "--class-names wants %s non-empty comma-separated names",
                                   o.classes ? "--classes" : "1 or more");
        }
        o.classes = n;
        o.class_names = names;
    }
    if ((o.in_channels == 4 || o.alignment != TS_ALIGN_NONE) && landmarks_given &&
        o.landmarks == TS_LANDMARKS_NONE) {
        free(class_list);
        return cli_usage_error("init", "4-channel models and aligned faces need a landmark method"
                               " (ert or cnn)");
    }

    ts_model *m = NULL;
    ts_status st = ts_model_new(arch, &o, &m);
    free(class_list);
    if (st == TS_OK) st = ts_model_save(m, out, dtype);
    if (st != TS_OK) {
        ts_model_free(m);
        return cli_fail("init", st);
    }
    cJSON *j = cJSON_CreateObject();
    char hash[80];
    snprintf(hash, sizeof hash, "sha256:%s", m->meta.hash);
    cJSON_AddStringToObject(j, "model", out);
    cJSON_AddStringToObject(j, "arch", m->meta.arch);
    cJSON_AddNumberToObject(j, "parameters", (double)ts_graph_param_count(m->graph));
    cJSON_AddStringToObject(j, "content_hash", hash);
    cli_print_json(j, false);
    cJSON_Delete(j);
    ts_model_free(m);
    return CMD_OK;
}
