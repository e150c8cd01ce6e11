/* cmd-info.c - `traitscope-cli info MODEL`: a model's metadata as JSON.
 *
 * Loading goes through ts_model_load_any (.safetensors, .onnx,
 * .caffemodel), as in every command that takes a model, so a file `info`
 * accepts is a file every other command accepts (hash verified, shapes
 * checked, weights finite), and a damaged file is reported the same way.
 *
 * Output (stdout, one JSON object, a contract; nn/model.h explains each
 * field): file, arch, trait, classes, in_channels, input_size,
 * channel_order, pixel_scale, input_mean, input_std, amap_encoding (4
 * channels only), landmarks, alignment, training (an object),
 * test_accuracy (null when unknown), content_hash, parameters (count),
 * tensors [{name, shape}] in file order, arch_text.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/model.h"

static void help(void)
{
    printf("usage: traitscope-cli info [--compact] MODEL\n\n"
           "Checks a model file (.safetensors, .onnx or .caffemodel: shapes, content hash,\n"
           "finite weights) and prints its metadata as JSON:\n"
           "architecture, trait, classes, input channels, size and normalisation,\n"
           "landmark method, alignment, training settings, test accuracy, content\n"
           "hash, parameter count and tensors.\n\n"
           "  --compact   one line instead of indented JSON\n");
}

/* A float as the shortest decimal that reads back as the same float, so
 * 0.485f prints as 0.485 and not 0.48500001430511475. */
static double short_double(float f)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.9g", f);
    for (int p = 1; p <= 9; p++) { /* fewest digits that round-trip */
        char t[32];
        snprintf(t, sizeof t, "%.*g", p, f);
        if (strtof(t, NULL) == f) return strtod(t, NULL);
    }
    return strtod(buf, NULL);
}

static cJSON *info_json(const char *path, const ts_model *m)
{
    const ts_model_meta *md = &m->meta;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", path);
    cJSON_AddStringToObject(o, "arch", md->arch);
    cJSON_AddStringToObject(o, "trait", md->trait);
    cJSON_AddItemToObject(o, "classes",
                          cJSON_CreateStringArray((const char *const *)md->classes, md->n_classes));
    cJSON_AddNumberToObject(o, "in_channels", md->in_channels);
    cJSON_AddNumberToObject(o, "input_size", md->in_size);
    cJSON_AddStringToObject(o, "channel_order", md->in_channels == 4 ? "RGB+A" : "RGB");
    cJSON_AddStringToObject(o, "pixel_scale", "1/255");
    cJSON *mean = cJSON_AddArrayToObject(o, "input_mean");
    cJSON *std = cJSON_AddArrayToObject(o, "input_std");
    for (int c = 0; c < md->in_channels; c++) {
        cJSON_AddItemToArray(mean, cJSON_CreateNumber(short_double(md->mean[c])));
        cJSON_AddItemToArray(std, cJSON_CreateNumber(short_double(md->std[c])));
    }
    if (md->in_channels == 4) cJSON_AddStringToObject(o, "amap_encoding", md->amap_encoding);
    cJSON_AddStringToObject(o, "landmarks", ts_landmark_method_name(md->landmarks));
    cJSON_AddStringToObject(o, "alignment", ts_alignment_name(md->alignment));
    cJSON *training = cJSON_Parse(md->training); /* checked to be an object on load */
    cJSON_AddItemToObject(o, "training", training ? training : cJSON_CreateObject());
    if (md->test_accuracy >= 0) cJSON_AddNumberToObject(o, "test_accuracy", md->test_accuracy);
    else cJSON_AddNullToObject(o, "test_accuracy");
    char hash[80];
    snprintf(hash, sizeof hash, "sha256:%s", md->hash);
    cJSON_AddStringToObject(o, "content_hash", hash);
    cJSON_AddNumberToObject(o, "parameters", (double)ts_graph_param_count(m->graph));
    int n = ts_model_tensors(m, NULL, 0);
    ts_model_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
    cJSON *list = cJSON_AddArrayToObject(o, "tensors");
    if (ts) {
        ts_model_tensors(m, ts, n);
        for (int i = 0; i < n; i++) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "name", ts[i].name);
            cJSON_AddItemToObject(t, "shape", cJSON_CreateIntArray(ts[i].shape, ts[i].ndim));
            cJSON_AddItemToArray(list, t);
        }
    }
    free(ts);
    cJSON_AddStringToObject(o, "arch_text", md->arch_text);
    return o;
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    bool compact = false;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_flag(argv, i, "--compact")) {
            compact = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("info", "unknown option '%s'", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_usage_error("info", "one MODEL at a time ('%s' is extra)", argv[i]);
        }
    }
    if (!path) return cli_usage_error("info", "no MODEL given");
    ts_model *m = NULL;
    ts_status st = ts_model_load_any(path, &m);
    if (st != TS_OK) return cli_fail("info", st);
    cJSON *o = info_json(path, m);
    int rc = cli_print_json(o, !compact);
    cJSON_Delete(o);
    ts_model_free(m);
    if (rc != CMD_OK) return cli_fail("info", ts_error(TS_ERR_OOM, "out of memory printing JSON"));
    return CMD_OK;
}
