/* ts-train-ranks.c - see ts-train-ranks.h. */
#include "app/ts-train-ranks.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* traitscope-cli: TS_CLI, else beside this program (installed) or in the
 * build tree (src/app -> src/cli), else on the PATH.  transfer: full. */
static char *find_cli(void)
{
    const char *env = g_getenv("TS_CLI");
    if (env && *env) return g_strdup(env);
    char *self = g_file_read_link("/proc/self/exe", NULL);
    char *dir = self ? g_path_get_dirname(self) : NULL;
    g_free(self);
    const char *rel[] = { "traitscope-cli", "../cli/traitscope-cli" };
    for (size_t i = 0; dir && i < G_N_ELEMENTS(rel); i++) {
        char *c = g_build_filename(dir, rel[i], NULL);
        if (g_file_test(c, G_FILE_TEST_IS_EXECUTABLE)) {
            g_free(dir);
            return c;
        }
        g_free(c);
    }
    g_free(dir);
    return g_find_program_in_path("traitscope-cli");
}

static void add_arg(GPtrArray *a, const char *flag, const char *value)
{
    g_ptr_array_add(a, g_strdup(flag));
    if (value) g_ptr_array_add(a, g_strdup(value));
}

static void add_num(GPtrArray *a, const char *flag, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    add_arg(a, flag, g_ascii_dtostr(buf, sizeof buf, v));
}

/* `traitscope-cli train` with the run's settings (its flags, cmd-train.c). */
static void train_args(GPtrArray *a, const ts_train_settings *s)
{
    add_arg(a, "train", NULL);
    add_arg(a, "--data", s->data);
    add_arg(a, "--trait", s->trait);
    add_arg(a, "--variant", ts_variant_name(s->variant));
    add_arg(a, "--arch", s->arch);
    add_arg(a, "--out", s->out);
    add_num(a, "--size", s->size);
    add_num(a, "--epochs", s->epochs);
    add_num(a, "--batch", s->batch);
    add_num(a, "--lr", s->lr);
    add_num(a, "--momentum", s->momentum);
    add_num(a, "--weight-decay", s->weight_decay);
    add_num(a, "--lr-gamma", s->lr_gamma);
    add_num(a, "--lr-step", s->lr_step_epochs);
    add_arg(a, "--lr-policy", s->lr_policy == TS_LR_COSINE ? "cosine" : "step");
    add_num(a, "--warmup", s->warmup_epochs);
    add_arg(a, "--augment", ts_augment_name(s->augment));
    add_arg(a, "--class-weights", ts_class_weights_name(s->class_weights));
    add_arg(a, "--loss", s->loss == TS_LOSS_SIGMOID ? "sigmoid" : "softmax");
    add_arg(a, "--align", ts_alignment_name(s->align));
    add_arg(a, "--device", ts_device_name(s->device));
    add_num(a, "--limit", s->limit);
    char seed[32];
    g_snprintf(seed, sizeof seed, "%" G_GUINT64_FORMAT, (guint64)s->seed);
    add_arg(a, "--seed", seed);
    if (s->run_seed) {
        g_snprintf(seed, sizeof seed, "%" G_GUINT64_FORMAT, (guint64)s->run_seed);
        add_arg(a, "--run-seed", seed);
    }
    add_num(a, "--test-fraction", s->test_fraction);
    add_num(a, "--val-fraction", s->val_fraction);
    add_num(a, "--patience", s->patience);
    if (s->threads > 0) add_num(a, "--threads", s->threads);
    if (s->compute_threads > 0) add_num(a, "--compute-threads", s->compute_threads);
    if (s->cache_dir) add_arg(a, "--cache", s->cache_dir);
    if (s->eval_each_epoch) add_arg(a, "--eval-each-epoch", NULL);
    if (s->resume) add_arg(a, "--resume", NULL);
    add_arg(a, "--progress", "json");
}

/* "Stop after epoch N" known before the start: the CLI stops there itself
 * (exactly, as the in-process run does); asked later, the worker signals
 * mpirun as soon as the epoch's end is reported. */
static int stop_after_now(const TsRanksHooks *h) { return g_atomic_int_get(h->stop_after); }

static double jnum(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* One "{"progress":{...}}" line of cmd-train.c into *pr. */
static gboolean parse_progress(const char *line, ts_train_progress *pr)
{
    cJSON *o = cJSON_Parse(line);
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "progress");
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(j, "phase");
    gboolean ok = cJSON_IsObject(j) && cJSON_IsString(ph);
    if (ok) {
        memset(pr, 0, sizeof *pr);
        pr->phase = !strcmp(ph->valuestring, "training")     ? TS_TRAIN_TRAINING
                    : !strcmp(ph->valuestring, "evaluating") ? TS_TRAIN_EVALUATING
                    : !strcmp(ph->valuestring, "done")       ? TS_TRAIN_DONE
                                                             : TS_TRAIN_PREPARING;
        pr->epoch = (int)jnum(j, "epoch", 0);
        pr->epochs = (int)jnum(j, "epochs", 0);
        pr->step = (int)jnum(j, "step", 0);
        pr->steps = (int)jnum(j, "steps", 0);
        pr->done = (int)jnum(j, "done", 0);
        pr->total = (int)jnum(j, "total", 0);
        pr->loss = (float)jnum(j, "loss", 0);
        pr->accuracy = (float)jnum(j, "accuracy", 0);
        pr->lr = (float)jnum(j, "lr", 0);
        pr->images_per_s = jnum(j, "images_per_s", 0);
        pr->elapsed_s = jnum(j, "elapsed_s", 0);
        pr->eta_s = jnum(j, "eta_s", -1);
        pr->test_accuracy = (float)jnum(j, "test_accuracy", -1);
        pr->val_accuracy = (float)jnum(j, "val_accuracy", -1);
        pr->val_balanced = (float)jnum(j, "val_balanced", -1);
        pr->best_epoch = (int)jnum(j, "best_epoch", 0);
        pr->epoch_end = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "epoch_end"));
    }
    cJSON_Delete(o);
    return ok;
}

ts_status ts_train_ranks_run(const ts_train_settings *s, int ranks, const TsRanksHooks *h, ts_train_result *res_out,
                             char **error)
{
    char *cli = find_cli(), *mpirun = g_find_program_in_path("mpirun");
    if (!cli || !mpirun) {
        *error = g_strdup_printf(_("Training with %d processes needs %s, which was not found"), ranks,
                                   !mpirun ? "mpirun" : "traitscope-cli");
        g_free(cli);
        g_free(mpirun);
        return TS_ERR_UNSUPPORTED;
    }
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    add_arg(argv, mpirun, NULL);
    add_num(argv, "-np", ranks);
    /* one machine: more ranks than cores are allowed (and slower) */
    add_arg(argv, "--oversubscribe", NULL);
    if (geteuid() == 0) add_arg(argv, "--allow-run-as-root", NULL);
    add_arg(argv, cli, NULL);
    train_args(argv, s);
    if (stop_after_now(h) > 0) add_num(argv, "--stop-after", stop_after_now(h));
    g_ptr_array_add(argv, NULL);
    g_free(cli);
    g_free(mpirun);
    GError *err = NULL;
    GSubprocess *sp = g_subprocess_newv((const char *const *)argv->pdata,
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &err);
    g_ptr_array_unref(argv);
    if (!sp) {
        *error = g_strdup_printf(_("mpirun could not be started: %s"), err->message);
        g_error_free(err);
        return TS_ERR_IO;
    }
    /* stderr carries the progress lines; read them as they come, and look
     * at the cancel flag between reads. */
    int fd = g_unix_input_stream_get_fd(G_UNIX_INPUT_STREAM(g_subprocess_get_stderr_pipe(sp)));
    GString *buf = g_string_new(NULL);
    char *last_error = NULL;
    gboolean signalled = FALSE;
    for (;;) {
        if (!signalled && h->should_abort(h->user)) {
            g_subprocess_send_signal(sp, SIGINT);
            signalled = TRUE;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int n = poll(&pfd, 1, 100);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        char chunk[4096];
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        g_string_append_len(buf, chunk, got);
        char *nl;
        while ((nl = memchr(buf->str, '\n', buf->len))) {
            *nl = '\0';
            ts_train_progress pr;
            if (parse_progress(buf->str, &pr)) {
                if (pr.epoch_end && !signalled) {
                    /* before the probes, which take a while: the ranks are
                     * already in the next epoch */
                    int after = stop_after_now(h);
                    if (after == -1 || (after > 0 && pr.epoch >= after) || g_atomic_int_get(h->abort)) {
                        g_atomic_int_set(h->worker_epochs, pr.epoch);
                        if (after == -1) g_atomic_int_set(h->stop_after, pr.epoch);
                        g_subprocess_send_signal(sp, SIGINT);
                        signalled = TRUE;
                    }
                }
                h->on_progress(&pr, h->user);
            } else if (g_str_has_prefix(buf->str, "traitscope-cli train: ")) {
                g_free(last_error);
                last_error = g_strdup(buf->str + strlen("traitscope-cli train: "));
            }
            g_string_erase(buf, 0, nl - buf->str + 1);
        }
    }
    g_string_free(buf, TRUE);
    g_subprocess_wait(sp, NULL, NULL);
    int code = g_subprocess_get_if_exited(sp) ? g_subprocess_get_exit_status(sp) : -1;
    /* the result: one JSON object on stdout */
    GBytes *out = NULL;
    GInputStream *so = g_subprocess_get_stdout_pipe(sp);
    GOutputStream *mem = g_memory_output_stream_new_resizable();
    if (g_output_stream_splice(mem, so, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, NULL) >= 0)
        out = g_memory_output_stream_steal_as_bytes(G_MEMORY_OUTPUT_STREAM(mem));
    g_object_unref(mem);
    cJSON *res = NULL;
    if (out) {
        gsize len;
        const char *text = g_bytes_get_data(out, &len);
        res = text ? cJSON_ParseWithLength(text, len) : NULL;
        g_bytes_unref(out);
    }
    ts_status st;
    if (code == 0 && cJSON_IsObject(res)) {
        res_out->epochs_done = (int)jnum(res, "epochs_done", 0);
        res_out->best_epoch = (int)jnum(res, "best_epoch", 0);
        res_out->test_accuracy = (float)jnum(res, "test_accuracy", -1);
        res_out->final_loss = (float)jnum(res, "final_loss", 0);
        res_out->train_accuracy = (float)jnum(res, "train_accuracy", 0);
        res_out->seconds = jnum(res, "seconds", 0);
        res_out->images_per_s = jnum(res, "images_per_s", 0);
        res_out->ranks = (int)jnum(res, "ranks", ranks);
        st = TS_OK;
    } else if (signalled || (stop_after_now(h) > 0 && g_atomic_int_get(h->worker_epochs) >= stop_after_now(h))) {
        /* asked for (the CLI may have stopped itself at --stop-after) */
        res_out->epochs_done = g_atomic_int_get(h->worker_epochs);
        st = TS_CANCELLED;
    } else {
        res_out->epochs_done = g_atomic_int_get(h->worker_epochs);
        *error = last_error ? g_strdup(last_error)
                              : g_strdup_printf(_("mpirun ended with status %d and no message"), code);
        st = TS_ERR_IO;
    }
    cJSON_Delete(res);
    g_free(last_error);
    g_object_unref(sp);
    return st;
}
