/* cmd-train.c - `traitscope-cli train`: trains a baseline (RGB) or LACNN
 * (RGB + A(x,y)) network for one trait (train/job.h does the work).
 *
 * Progress goes to stderr: a one-line bar redrawn in place when stderr is a
 * terminal, plain lines otherwise (one per tenth of an epoch, one per
 * epoch).  --progress json prints every report as one line instead, for a
 * program that follows the run (the app's training page under mpirun):
 *   {"progress":{"phase":"preparing"|"training"|"evaluating"|"done",
 *    "epoch","epochs","step","steps","done","total","loss","accuracy","lr",
 *    "images_per_s","elapsed_s","eta_s","test_accuracy","val_accuracy",
 *    "val_balanced","best_epoch","epoch_end"}}  Ctrl-C asks the job to stop; the last epoch's checkpoint stays
 * and `--resume` continues from it.
 *
 * Output contract (stdout, one JSON object at the end):
 *   {"model":OUT,"state":OUT.state,"trait":T,"variant":V,"arch":A,
 *    "backend":B,"epochs_done":E,"resumed_from_epoch":R,"n_train":N,
 *    "n_val":V,"n_test":M,"skipped_images":K,"best_epoch":E,"stopped_early":b,
 *    "final_loss":L,"train_accuracy":X,"test_accuracy":Y|null,
 *    "validation":{"traits":{T:{"n","accuracy","ci95","balanced_accuracy"}},..}|null,
 *    "test":{...same...}|null,"seconds":S,"images_per_s":I}
 * test_accuracy is the mean over the traits of the selected model.
 * "ranks" and "allreduce" follow "backend" (train/dist.h).
 * Exit 0, 1 (failed or cancelled), 2 (usage).
 *
 * Under mpirun or srun (several ranks) the ranks train one model together
 * (train/job.c, train/dist.h); rank 0 alone prints the progress and the
 * JSON, a rank prints its own failure ("rank R: ..."), and a failure the
 * ranks did not meet in a vote ends the whole job (MPI_Abort) so that no
 * rank waits forever.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "data/split.h"
#include "train/dist.h"
#include "train/job.h"

static volatile sig_atomic_t interrupted;
static int stop_after, epochs_seen; /* --stop-after; epochs ended in this run */

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static bool should_abort(void *user)
{
    (void)user;
    return interrupted != 0 || (stop_after > 0 && epochs_seen >= stop_after);
}

typedef struct ui {
    bool tty;
    bool json;         /* --progress json */
    int last_tenth;
    int last_phase;
} ui;

static void fmt_time(double s, char *buf, size_t n)
{
    if (s < 0) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

static void on_progress(const ts_train_progress *p, void *user)
{
    ui *u = user;
    if (p->epoch_end) epochs_seen = p->epoch;
    if (ts_dist_rank() != 0) return; /* printed once, by rank 0 */
    if (u->json) {
        static const char *const phases[] = { "preparing", "training", "evaluating", "done" };
        cJSON *o = cJSON_CreateObject(), *j = cJSON_AddObjectToObject(o, "progress");
        cJSON_AddStringToObject(j, "phase", (unsigned)p->phase <= TS_TRAIN_DONE ? phases[p->phase] : "?");
        cJSON_AddNumberToObject(j, "epoch", p->epoch);
        cJSON_AddNumberToObject(j, "epochs", p->epochs);
        cJSON_AddNumberToObject(j, "step", p->step);
        cJSON_AddNumberToObject(j, "steps", p->steps);
        cJSON_AddNumberToObject(j, "done", p->done);
        cJSON_AddNumberToObject(j, "total", p->total);
        cJSON_AddNumberToObject(j, "loss", p->loss);
        cJSON_AddNumberToObject(j, "accuracy", p->accuracy);
        cJSON_AddNumberToObject(j, "lr", p->lr);
        cJSON_AddNumberToObject(j, "images_per_s", p->images_per_s);
        cJSON_AddNumberToObject(j, "elapsed_s", p->elapsed_s);
        cJSON_AddNumberToObject(j, "eta_s", p->eta_s);
        cJSON_AddNumberToObject(j, "test_accuracy", p->test_accuracy);
        cJSON_AddNumberToObject(j, "val_accuracy", p->val_accuracy);
        cJSON_AddNumberToObject(j, "val_balanced", p->val_balanced);
        cJSON_AddNumberToObject(j, "best_epoch", p->best_epoch);
        cJSON_AddBoolToObject(j, "epoch_end", p->epoch_end);
        char *line = cJSON_PrintUnformatted(o);
        if (line) fprintf(stderr, "%s\n", line);
        free(line);
        cJSON_Delete(o);
        fflush(stderr);
        return;
    }
    char eta[32], el[32];
    fmt_time(p->eta_s, eta, sizeof eta);
    fmt_time(p->elapsed_s, el, sizeof el);
    if (p->phase == TS_TRAIN_PREPARING || p->phase == TS_TRAIN_EVALUATING) {
        const char *what = p->phase == TS_TRAIN_PREPARING ? "preparing faces"
                           : p->validating                 ? "validating"
                                                           : "evaluating test set";
        if (u->tty) {
            fprintf(stderr, "\r\033[K%s %d/%d [%s]", what, p->done, p->total, el);
            if (p->done == p->total) fputc('\n', stderr);
        } else if (p->done == p->total || u->last_phase != (int)p->phase) {
            fprintf(stderr, "%s %d/%d [%s]\n", what, p->done, p->total, el);
        }
        u->last_phase = (int)p->phase;
        fflush(stderr);
        return;
    }
    u->last_phase = (int)p->phase;
    if (p->phase == TS_TRAIN_DONE) return;
    if (p->epoch_end) {
        if (u->tty) fputc('\n', stderr);
        fprintf(stderr, "epoch %d/%d done: loss %.4f  train acc %.2f%%", p->epoch, p->epochs, p->loss,
                100 * p->accuracy);
        if (p->val_balanced >= 0)
            fprintf(stderr, "  val acc %.2f%% bal %.2f%%%s", 100 * p->val_accuracy, 100 * p->val_balanced,
                    p->best_epoch == p->epoch ? " (best)" : "");
        if (p->test_accuracy >= 0) fprintf(stderr, "  test acc %.2f%%", 100 * p->test_accuracy);
        fprintf(stderr, "  %.1f img/s  [%s]  checkpoint written\n", p->images_per_s, el);
        u->last_tenth = -1;
        fflush(stderr);
        return;
    }
    if (u->tty) {
        int width = 30, fill = p->steps ? (int)((long)width * p->step / p->steps) : 0;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %d/%d loss %.4f acc %.1f%% %.1f img/s lr %g eta %s", p->epoch,
                p->epochs, bar, p->step, p->steps, p->loss, 100 * p->accuracy, p->images_per_s, p->lr, eta);
    } else {
        int tenth = p->steps ? (int)(10L * p->step / p->steps) : 0;
        if (tenth == u->last_tenth) return;
        u->last_tenth = tenth;
        fprintf(stderr, "epoch %d/%d step %d/%d loss %.4f acc %.2f%% %.1f img/s lr %g eta %s\n", p->epoch, p->epochs,
                p->step, p->steps, p->loss, 100 * p->accuracy, p->images_per_s, p->lr, eta);
    }
    fflush(stderr);
}

/* Per-trait figures; null when none were measured. */
static cJSON *scores_json(const ts_trait_score *sc, int n)
{
    return n > 0 && sc[0].n > 0 ? ts_trait_scores_json(sc, n) : cJSON_CreateNull();
}

static void help(void)
{
    printf("usage: traitscope-cli train --data SPEC --trait NAME --variant baseline|lacnn --out MODEL\n"
           "                            [--arch NAME|FILE] [--size N] [--epochs N] [--batch N]\n"
           "                            [--lr X] [--momentum X] [--weight-decay X]\n"
           "                            [--lr-policy step|cosine] [--lr-step EPOCHS] [--lr-gamma X]\n"
           "                            [--warmup EPOCHS] [--augment paper|random|wild|none] [--no-augment]\n"
           "                            [--class-weights none|balanced|sqrt]\n"
           "                            [--loss softmax|sigmoid] [--align none|rotation|affine|similarity]\n"
           "                            [--limit N] [--seed N] [--test-fraction F] [--val-fraction F]\n"
           "                            [--run-seed N] [--patience EPOCHS]\n"
           "                            [--device cpu|cuda|auto] [--threads N] [--compute-threads N]\n"
           "                            [--cache DIR] [--init MODEL]\n"
           "                            [--eval-each-epoch] [--resume] [--progress text|json]\n"
           "                            [--stop-after EPOCHS]\n"
           "\n"
           "Trains one network per trait (LACNN paper): SGD with momentum and weight decay,\n"
           "Caffe step (or cosine) learning rate, rotations -40/-20/+20/+40 and mirroring\n"
           "(x5 data; --augment random: one random view per face and epoch instead; wild:\n"
           "random, with a fifth of the views grey and a third blurred).\n"
           "--val-fraction of the training part is held out for model selection: MODEL is the\n"
           "epoch with the best mean balanced accuracy there, and only it is tested, once, on\n"
           "the test split; --patience stops after that many epochs without a better one.\n"
           "Writes MODEL.state after every epoch; --resume continues after an interruption.\n"
           "--stop-after E stops as Ctrl-C does once epoch E is done (the run keeps --epochs).\n"
           "--align similarity puts every face in the canonical frame (face/align.h).\n"
           "--init MODEL starts from MODEL's parameters (same network, input and outputs) instead\n"
           "of fresh ones: a fine-tuning run, or a second learning-rate cycle of a finished one.\n"
           "Defaults: --arch alexnet --size 150 --epochs 10 --batch 50 --lr 0.01 --momentum 0.9\n"
           "--weight-decay 0.0005 --seed %u --test-fraction 0.2 --val-fraction 0.1 --augment paper.\n"
           "--seed makes the split; --run-seed N (default: --seed) the order, views, initial\n"
           "weights and dropout, so that runs on one split differ (members of a soup).\n"
           "--loss sigmoid trains one multi-label net for a comma-separated list of two-class\n"
           "traits.  --limit N uses only the first N rows of the dataset.  --threads: face\n"
           "preparation threads (default 2); --compute-threads: CPU backend threads (default all).\n"
           "Under mpirun or srun with N tasks the tasks train one model together, each on its\n"
           "share of every batch (MPI; NCCL between GPUs; see docs/cluster.md).\n",
           TS_SPLIT_DEFAULT_SEED);
}

static int train_main(int argc, char **argv);

int cmd_train(int argc, char **argv)
{
    int rc = train_main(argc, argv);
    ts_dist_finalize();
    return rc;
}

/* A failure of this rank: printed by the rank that had it (and by rank 0,
 * which names the failed rank); a failure no vote carried to the other
 * ranks ends them all. */
static int dist_fail(ts_status st)
{
    int rc = CMD_FAIL;
    if (ts_dist_size() == 1) return cli_fail("train", st);
    if (!ts_dist_peer_failed() || ts_dist_rank() == 0)
        fprintf(stderr, "traitscope-cli train: rank %d: %s\n", ts_dist_rank(), ts_last_error());
    if (!ts_dist_vote_failed()) {
        fflush(stderr);
        ts_dist_abort(rc);
    }
    return rc;
}

static int train_main(int argc, char **argv)
{
    ts_train_settings s;
    ts_train_settings_default(&s);
    s.seed = TS_SPLIT_DEFAULT_SEED;
    bool have_variant = false, progress_json = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int n;
        float f;
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--data", &v)) {
            s.data = v;
        } else if (cli_opt(argc, argv, &i, "--trait", &v)) {
            s.trait = v;
        } else if (cli_opt(argc, argv, &i, "--variant", &v)) {
            if (!ts_variant_parse(v, &s.variant))
                return cli_usage_error("train", "--variant wants baseline or lacnn, not '%s'", v);
            have_variant = true;
        } else if (cli_opt(argc, argv, &i, "--arch", &v)) {
            s.arch = v;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            s.out = v;
        } else if (cli_opt(argc, argv, &i, "--cache", &v)) {
            s.cache_dir = v;
        } else if (cli_opt(argc, argv, &i, "--init", &v)) {
            s.init = v;
        } else if (cli_opt(argc, argv, &i, "--size", &v)) {
            if (!cli_parse_int(v, &s.size)) return cli_usage_error("train", "--size wants an integer");
        } else if (cli_opt(argc, argv, &i, "--epochs", &v)) {
            if (!cli_parse_int(v, &s.epochs)) return cli_usage_error("train", "--epochs wants an integer");
        } else if (cli_opt(argc, argv, &i, "--batch", &v)) {
            if (!cli_parse_int(v, &s.batch)) return cli_usage_error("train", "--batch wants an integer");
        } else if (cli_opt(argc, argv, &i, "--limit", &v)) {
            if (!cli_parse_int(v, &s.limit) || s.limit < 0)
                return cli_usage_error("train", "--limit wants a positive integer");
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            if (!cli_parse_int(v, &s.threads) || s.threads < 0)
                return cli_usage_error("train", "--threads wants a positive integer");
        } else if (cli_opt(argc, argv, &i, "--compute-threads", &v)) {
            if (!cli_parse_int(v, &s.compute_threads) || s.compute_threads < 0)
                return cli_usage_error("train", "--compute-threads wants a positive integer");
        } else if (cli_opt(argc, argv, &i, "--lr-step", &v)) {
            if (!cli_parse_int(v, &s.lr_step_epochs)) return cli_usage_error("train", "--lr-step wants epochs");
        } else if (cli_opt(argc, argv, &i, "--seed", &v)) {
            char *end;
            s.seed = strtoull(v, &end, 10);
            if (!v[0] || *end) return cli_usage_error("train", "--seed wants an integer");
        } else if (cli_opt(argc, argv, &i, "--run-seed", &v)) {
            char *end;
            s.run_seed = strtoull(v, &end, 10);
            if (!v[0] || *end || v[0] == '-' || s.run_seed == 0)
                return cli_usage_error("train", "--run-seed wants a positive whole number, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--lr", &v)) {
            if (!cli_parse_float(v, &s.lr)) return cli_usage_error("train", "--lr wants a number");
        } else if (cli_opt(argc, argv, &i, "--momentum", &v)) {
            if (!cli_parse_float(v, &s.momentum)) return cli_usage_error("train", "--momentum wants a number");
        } else if (cli_opt(argc, argv, &i, "--weight-decay", &v)) {
            if (!cli_parse_float(v, &s.weight_decay)) return cli_usage_error("train", "--weight-decay wants a number");
        } else if (cli_opt(argc, argv, &i, "--lr-gamma", &v)) {
            if (!cli_parse_float(v, &s.lr_gamma)) return cli_usage_error("train", "--lr-gamma wants a number");
        } else if (cli_opt(argc, argv, &i, "--test-fraction", &v)) {
            if (!cli_parse_float(v, &f)) return cli_usage_error("train", "--test-fraction wants a number");
            s.test_fraction = f;
        } else if (cli_opt(argc, argv, &i, "--val-fraction", &v)) {
            if (!cli_parse_float(v, &f)) return cli_usage_error("train", "--val-fraction wants a number");
            s.val_fraction = f;
        } else if (cli_opt(argc, argv, &i, "--patience", &v)) {
            if (!cli_parse_int(v, &s.patience) || s.patience < 0)
                return cli_usage_error("train", "--patience wants a number of epochs");
        } else if (cli_opt(argc, argv, &i, "--warmup", &v)) {
            if (!cli_parse_int(v, &s.warmup_epochs) || s.warmup_epochs < 0)
                return cli_usage_error("train", "--warmup wants a number of epochs");
        } else if (cli_opt(argc, argv, &i, "--lr-policy", &v)) {
            if (!strcmp(v, "step")) s.lr_policy = TS_LR_STEP;
            else if (!strcmp(v, "cosine")) s.lr_policy = TS_LR_COSINE;
            else return cli_usage_error("train", "--lr-policy wants step or cosine, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--augment", &v)) {
            if (!ts_augment_parse(v, &s.augment))
                return cli_usage_error("train", "--augment wants paper, random, wild or none, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--class-weights", &v)) {
            if (!ts_class_weights_parse(v, &s.class_weights))
                return cli_usage_error("train", "--class-weights wants none, balanced or sqrt, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--loss", &v)) {
            if (!strcmp(v, "softmax")) s.loss = TS_LOSS_SOFTMAX;
            else if (!strcmp(v, "sigmoid")) s.loss = TS_LOSS_SIGMOID;
            else return cli_usage_error("train", "--loss wants softmax or sigmoid, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--align", &v)) {
            if (!ts_alignment_parse(v, &s.align))
                return cli_usage_error("train", "--align wants none, rotation, affine or similarity, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &s.device))
                return cli_usage_error("train", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--stop-after", &v)) {
            if (!cli_parse_int(v, &stop_after) || stop_after < 1)
                return cli_usage_error("train", "--stop-after wants a number of epochs >= 1");
        } else if (cli_opt(argc, argv, &i, "--progress", &v)) {
            if (!strcmp(v, "json")) progress_json = true;
            else if (strcmp(v, "text")) return cli_usage_error("train", "--progress wants text or json, not '%s'", v);
        } else if (cli_flag(argv, i, "--no-augment")) {
            s.augment = TS_AUGMENT_NONE;
        } else if (cli_flag(argv, i, "--resume")) {
            s.resume = true;
        } else if (cli_flag(argv, i, "--eval-each-epoch")) {
            s.eval_each_epoch = true;
        } else {
            (void)n;
            return cli_usage_error("train", "unknown argument '%s' (see --help)", argv[i]);
        }
    }
    if (!s.data || !s.trait || !s.out || !have_variant)
        return cli_usage_error("train", "--data, --trait, --variant and --out are required (see --help)");

    if (!strncmp(s.data, "csv:", 4)) {
        const char *in = s.data + 4;
        char *state = ts_train_state_path(s.out);
        const char *outs[2] = { s.out, state };
        int refused = cli_refuse_overwrite("train", outs, 2, &in, 1);
        free(state);
        if (refused) return refused;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* --device cuda without a usable GPU: the CPU and one line saying why
     * (the job itself would refuse; auto already falls back inside it, with
     * its note printed below). */
    if (s.device == TS_DEVICE_CUDA) {
        const ts_backend *be;
        void *ctx;
        cli_backend_open("train", TS_DEVICE_CUDA, &be, &ctx);
        if (be->device == TS_DEVICE_CPU) s.device = TS_DEVICE_CPU;
        ts_backend_close(be, ctx); /* the job opens its own */
    }

    /* Several ranks (mpirun / srun): join them before anything is read. */
    char note[512];
    ts_status st = ts_dist_init(note, sizeof note);
    if (st != TS_OK) return cli_fail("train", st);
    if (note[0] && ts_dist_rank() == 0) fprintf(stderr, "traitscope-cli train: %s\n", note);

    ui u = { .tty = isatty(STDERR_FILENO) != 0 && !progress_json, .json = progress_json, .last_tenth = -1,
             .last_phase = -1 };
    ts_train_callbacks cb = { on_progress, should_abort, &u };
    ts_train_result res;
    st = ts_train_run(&s, &cb, &res);
    const bool lead = ts_dist_rank() == 0; /* rank 0 speaks for all */
    if (lead) {
        if (res.note[0]) cli_warn("train", "%s", res.note);
        if (res.n_stale_removed)
            cli_warn("train", "removed %d temporary file(s) that an interrupted run had left beside %s",
                     res.n_stale_removed, s.out);
        if (res.n_skipped) {
            /* the images training and testing go without, named (the count is
             * also in the JSON and the model's metadata) */
            const char *kept[5];
            for (int k = 0; k < res.n_skipped_shown; k++) kept[k] = res.skipped[k];
            cli_skips_report("train", kept, res.n_skipped_shown, res.n_skipped,
                             res.n_train + res.n_val + res.n_test + res.n_skipped);
        }
    }
    if (st == TS_CANCELLED && !ts_dist_peer_failed()) {
        /* A cancel is voted on by all ranks at the same step: no abort. */
        if (lead) {
            if (u.tty) fputc('\n', stderr);
            cli_warn("train", "%s; run again with --resume to continue", ts_last_error());
        }
        return CMD_FAIL;
    }
    if (st != TS_OK) return dist_fail(st);
    if (!lead) return CMD_OK; /* rank 0 prints the result */

    cJSON *o = cJSON_CreateObject();
    char *state = ts_train_state_path(s.out);
    cJSON_AddStringToObject(o, "model", s.out);
    cJSON_AddStringToObject(o, "state", state ? state : "");
    cJSON_AddStringToObject(o, "trait", s.trait);
    cJSON_AddStringToObject(o, "variant", ts_variant_name(s.variant));
    cJSON_AddStringToObject(o, "arch", s.arch);
    cJSON_AddStringToObject(o, "backend", res.backend);
    cJSON_AddNumberToObject(o, "ranks", res.ranks);
    cJSON_AddStringToObject(o, "allreduce", res.allreduce);
    cJSON_AddNumberToObject(o, "epochs_done", res.epochs_done);
    cJSON_AddNumberToObject(o, "resumed_from_epoch", res.resumed_from_epoch);
    cJSON_AddNumberToObject(o, "n_train", res.n_train);
    cJSON_AddNumberToObject(o, "n_val", res.n_val);
    cJSON_AddNumberToObject(o, "n_test", res.n_test);
    cJSON_AddNumberToObject(o, "skipped_images", res.n_skipped);
    cJSON_AddNumberToObject(o, "best_epoch", res.best_epoch);
    cJSON_AddBoolToObject(o, "stopped_early", res.stopped_early);
    cJSON_AddNumberToObject(o, "final_loss", res.final_loss);
    cJSON_AddNumberToObject(o, "train_accuracy", res.train_accuracy);
    if (res.test_accuracy >= 0) cJSON_AddNumberToObject(o, "test_accuracy", res.test_accuracy);
    else cJSON_AddNullToObject(o, "test_accuracy");
    cJSON_AddItemToObject(o, "validation", scores_json(res.val, res.n_traits));
    cJSON_AddItemToObject(o, "test", scores_json(res.test, res.n_traits));
    cJSON_AddNumberToObject(o, "seconds", res.seconds);
    cJSON_AddNumberToObject(o, "images_per_s", res.images_per_s);
    int rc = cli_print_json(o, false);
    free(state);
    cJSON_Delete(o);
    return rc;
}
