/* cmd-convert.c - `traitscope-cli convert IN OUT`: models between formats.
 *
 * Formats by extension: .safetensors (our checkpoint, nn/model.h), .onnx
 * (nn/onnx.h), .caffemodel (nn/caffe.h: the description comes from
 * --prototxt, or NAME.prototxt / deploy.prototxt beside the input as
 * ts_model_load_any finds them; writing a .caffemodel also writes
 * NAME.prototxt and NAME.binaryproto, the mean image, beside it).  Caffe
 * input conventions (BGR, 0..255 minus mean) are converted on the way in
 * and out, as caffe.h explains, so every output is an ordinary model.
 *
 * Output (stdout, one JSON line, a contract):
 *   {"input":IN,"output":OUT,"format":"onnx"|"caffe"|"safetensors",
 *    "arch":..,"classes":[..],"parameters":N,"files":[written paths]}
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "nn/caffe.h"
#include "nn/model.h"
#include "nn/onnx.h"

static void help(void)
{
    printf("usage: traitscope-cli convert [options] IN OUT\n\n"
           "Converts a model between formats, chosen by extension: .safetensors\n"
           "(Traitscope checkpoint), .onnx, .caffemodel.  Imported models become\n"
           "ordinary Traitscope models (architecture + weights + metadata).\n\n"
           "  --prototxt FILE       Caffe input: the deploy description (default:\n"
           "                        IN's NAME.prototxt or deploy.prototxt beside it)\n"
           "  --mean FILE|M1,M2,M3  Caffe input: mean .binaryproto, or mean values in\n"
           "                        Caffe channel order (BGR, 0..255)\n"
           "  --scale S             Caffe input: transform scale applied after the mean\n"
           "  --rgb                 Caffe input: the model takes RGB, not BGR\n"
           "  --classes A,B,..      class names, one per output\n"
           "  --trait NAME          the trait the model predicts\n"
           "  --input-mean M1,M2,M3 input normalisation of the model, per channel, on\n"
           "  --input-std S1,S2,S3  pixel/255 (ONNX imports default to ImageNet's)\n"
           "  --f16                 safetensors output stored as half floats\n"
           "  --fold-batchnorm      fold each batchnorm behind a conv or fc into that\n"
           "                        layer (same outputs in evaluation; for deployment\n"
           "                        and Caffe, which has no single batchnorm layer)\n\n"
           "A .caffemodel output also writes NAME.prototxt and NAME.binaryproto.\n");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* "a,b,c" -> up to max finite floats; returns the count, -1 when s is not
 * a list of numbers, -2 when it is one but holds nan or inf. */
static int parse_floats(const char *s, float *v, int max)
{
    int n = 0, non_finite = 0;
    char *copy = strdup(s), *save = NULL;
    if (!copy) return -1;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end;
        float x = n < max ? strtof(t, &end) : 0;
        if (n == max || end == t || *end) {
            free(copy);
            return -1;
        }
        non_finite |= !isfinite(x);
        v[n++] = x;
    }
    free(copy);
    return non_finite ? -2 : n;
}

/* NAME.caffemodel -> NAME + tail.  transfer: full. */
static char *replace_ext(const char *path, const char *ext, const char *tail)
{
    size_t stem = strlen(path) - strlen(ext);
    char *s = malloc(stem + strlen(tail) + 1);
    if (!s) return NULL;
    memcpy(s, path, stem);
    strcpy(s + stem, tail);
    return s;
}

int cmd_convert(int argc, char **argv)
{
    const char *prototxt = NULL, *mean = NULL, *classes = NULL, *trait = NULL, *imean = NULL,
               *istd = NULL, *scale = NULL, *v;
    const char *pos[2];
    int n_pos = 0;
    bool rgb = false, f16 = false, fold = false;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        }
        if (cli_opt(argc, argv, &i, "--prototxt", &v)) prototxt = v;
        else if (cli_opt(argc, argv, &i, "--mean", &v)) mean = v;
        else if (cli_opt(argc, argv, &i, "--scale", &v)) scale = v;
        else if (cli_opt(argc, argv, &i, "--classes", &v)) classes = v;
        else if (cli_opt(argc, argv, &i, "--trait", &v)) trait = v;
        else if (cli_opt(argc, argv, &i, "--input-mean", &v)) imean = v;
        else if (cli_opt(argc, argv, &i, "--input-std", &v)) istd = v;
        else if (cli_flag(argv, i, "--rgb")) rgb = true;
        else if (cli_flag(argv, i, "--f16")) f16 = true;
        else if (cli_flag(argv, i, "--fold-batchnorm")) fold = true;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("convert", "unknown option '%s' (see --help)", argv[i]);
        else if (n_pos == 2) return cli_usage_error("convert", "expected IN and OUT, got a third file '%s'", argv[i]);
        else pos[n_pos++] = argv[i];
    }
    if (n_pos != 2) return cli_usage_error("convert", "expected IN and OUT (see --help)");
    const char *in = pos[0], *out = pos[1];
    bool out_onnx = ends_with(out, ".onnx"), out_caffe = ends_with(out, ".caffemodel"),
         out_st = ends_with(out, ".safetensors");
    if (!out_onnx && !out_caffe && !out_st)
        return cli_usage_error("convert", "OUT '%s' must end in .safetensors, .onnx or .caffemodel", out);

    ts_caffe_options co = { 0 };
    co.rgb = rgb;
    if (scale && (!cli_parse_float(scale, &co.scale) || !(co.scale > 0)))
        return cli_usage_error("convert", "--scale %s: expected a finite number > 0", scale);
    if (mean) {
        int n = parse_floats(mean, co.mean_values, 4);
        if (n == -2) return cli_usage_error("convert", "--mean %s: the mean values must be finite numbers", mean);
        if (n > 0) co.n_mean_values = n;
        else co.mean_file = mean;
    }
    {
        char *po = out_caffe ? replace_ext(out, ".caffemodel", ".prototxt") : NULL;
        char *mo = out_caffe ? replace_ext(out, ".caffemodel", ".binaryproto") : NULL;
        const char *outs[3] = { out, po, mo }, *ins[3] = { in, prototxt, co.mean_file };
        int refused = cli_refuse_overwrite("convert", outs, 3, ins, 3);
        free(po);
        free(mo);
        if (refused) return refused;
    }
    ts_model *m = NULL;
    ts_status st;
    if (ends_with(in, ".caffemodel") && (prototxt || mean || scale || rgb)) {
        char *auto_proto = NULL;
        co.prototxt = prototxt;
        if (!prototxt) {
            /* same look-up as ts_model_load_any */
            auto_proto = replace_ext(in, ".caffemodel", ".prototxt");
            FILE *f = auto_proto ? fopen(auto_proto, "r") : NULL;
            if (f) {
                fclose(f);
                co.prototxt = auto_proto;
            } else {
                free(auto_proto);
                const char *slash = strrchr(in, '/');
                size_t dir = slash ? (size_t)(slash - in + 1) : 0;
                auto_proto = malloc(dir + 16);
                if (auto_proto) {
                    memcpy(auto_proto, in, dir);
                    strcpy(auto_proto + dir, "deploy.prototxt");
                    if ((f = fopen(auto_proto, "r"))) {
                        fclose(f);
                        co.prototxt = auto_proto;
                    }
                }
            }
        }
        st = ts_caffe_import(in, &co, &m);
        free(auto_proto);
    } else {
        if ((prototxt || mean || scale || rgb) && !ends_with(in, ".caffemodel"))
            return cli_usage_error("convert", "--prototxt, --mean, --scale and --rgb are for a .caffemodel input");
        /* the prototxt and mean beside the caffemodel, as the app finds them */
        st = ts_model_load_any(in, &m);
    }
    if (st != TS_OK) return cli_fail("convert", st);

    int rc = CMD_OK;
    if (classes) {
        char *copy = strdup(classes);
        const char *names[TS_MODEL_MAX_CLASSES];
        int n = 0;
        for (char *s = copy, *save = NULL, *t; copy && n < TS_MODEL_MAX_CLASSES && (t = strtok_r(s, ",", &save)); s = NULL)
            names[n++] = t;
        st = copy ? ts_model_set_classes(m, n, names) : TS_ERR_OOM;
        free(copy);
        if (st != TS_OK) rc = cli_usage_error("convert", "--classes: %s", ts_last_error());
    }
    if (rc == CMD_OK && trait && (st = ts_model_set_trait(m, trait)) != TS_OK) rc = cli_fail("convert", st);
    const char *norm[2] = { imean, istd };
    for (int k = 0; k < 2 && rc == CMD_OK; k++) {
        if (!norm[k]) continue;
        float vals[TS_MODEL_MAX_CHANNELS];
        int n = parse_floats(norm[k], vals, TS_MODEL_MAX_CHANNELS);
        bool ok = n == m->meta.in_channels;  /* -2 (nan, inf) is refused here too */
        for (int c = 0; ok && k == 1 && c < n; c++) ok = vals[c] > 0;
        if (!ok)
            rc = cli_usage_error("convert", "%s: expected %d finite numbers%s", k ? "--input-std" : "--input-mean",
                                 m->meta.in_channels, k ? " > 0" : "");
        else memcpy(k ? m->meta.std : m->meta.mean, vals, (size_t)n * sizeof *vals);
    }

    int n_folded = 0;
    if (rc == CMD_OK && fold) {
        ts_model *f = NULL;
        st = ts_model_fold_batchnorm(m, &f, &n_folded);
        if (st != TS_OK) rc = cli_fail("convert", st);
        else ts_model_free(m), m = f;
    }
    cJSON *files = cJSON_CreateArray();
    if (rc == CMD_OK) {
        if (out_onnx) {
            st = ts_onnx_export(m, out);
            cJSON_AddItemToArray(files, cJSON_CreateString(out));
        } else if (out_caffe) {
            char *proto_out = replace_ext(out, ".caffemodel", ".prototxt");
            char *mean_out = replace_ext(out, ".caffemodel", ".binaryproto");
            st = proto_out && mean_out ? ts_caffe_export(m, out, proto_out, mean_out) : TS_ERR_OOM;
            cJSON_AddItemToArray(files, cJSON_CreateString(out));
            if (proto_out) cJSON_AddItemToArray(files, cJSON_CreateString(proto_out));
            if (mean_out) cJSON_AddItemToArray(files, cJSON_CreateString(mean_out));
            free(proto_out);
            free(mean_out);
        } else {
            st = ts_model_save(m, out, f16 ? TS_DTYPE_F16 : TS_DTYPE_F32);
            cJSON_AddItemToArray(files, cJSON_CreateString(out));
        }
        if (st != TS_OK) rc = cli_fail("convert", st);
    }
    if (rc == CMD_OK) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "input", in);
        cJSON_AddStringToObject(o, "output", out);
        cJSON_AddStringToObject(o, "format", out_onnx ? "onnx" : out_caffe ? "caffe" : "safetensors");
        cJSON_AddStringToObject(o, "arch", m->meta.arch);
        cJSON_AddItemToObject(o, "classes", cJSON_CreateStringArray((const char *const *)m->meta.classes, m->meta.n_classes));
        cJSON_AddNumberToObject(o, "parameters", (double)ts_graph_param_count(m->graph));
        if (fold) cJSON_AddNumberToObject(o, "folded_batchnorm", n_folded);
        cJSON_AddItemToObject(o, "files", files);
        files = NULL;
        if (cli_print_json(o, false) != CMD_OK) rc = CMD_FAIL;
        cJSON_Delete(o);
    }
    cJSON_Delete(files);
    ts_model_free(m);
    return rc;
}
