// am_review RUN_DIR: the expert in the loop. Serves a run folder of am_train
// to a local web page (one URL with a random token) where the candidates are
// labelled with the keyboard and the model retrained (include/am/review.h).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/cli.h"
#include "am/error.h"
#include "am/review.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: am_review RUN_DIR [options]\n"
            "A local web page to label a run's candidates and retrain: RUN_DIR is the --out folder of am_train\n"
            "(config.txt, scores.csv, labeled_data.csv, checkpoint.amck). It prints one URL; open it in a browser.\n"
            "\n"
            "Options:\n"
            "  --truth CSV       ground truth for the ROC and PR curves (default: the run's --truth, if any)\n"
            "  --port N          port to listen on (default: a free one)\n"
            "  --listen ADDR     address to bind (default 127.0.0.1; any other is reachable from the network)\n"
            "  --train EXE       the am_train a retrain runs (default: the one beside am_review)\n"
            "\n"
            "Keys on the page: a anomaly, n normal, u unsure, z undo, arrows move, g gallery/single view, ? all keys.\n"
            "Every label is saved at once: RUN/labels.log (append-only, synced) and RUN/labeled_data.csv (the\n"
            "labels in force); the labels file am_train was given is never changed. Retrain runs one more cycle of\n"
            "am_train from the run's checkpoint with those labels, then the page shows the new ranking.\n");
}

static int die(void) {
    fprintf(stderr, "am_review: %s\n", am_error());
    return 1;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
    if (argc < 2) { usage(stderr); return 2; }
    const char *run = NULL, *truth = "";
    char train[4096];
    am_exe_path(train, sizeof train, "am_train");
    am_server_opts o;
    am_server_defaults(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) {
            if (run) { am_seterr("one run folder only ('%s' and '%s')", run, a); return die(); }
            run = a;
            continue;
        }
        if (i + 1 >= argc) { am_seterr("option '%s' needs a value", a); return die(); }
        const char *v = argv[++i];
        if (!strcmp(a, "--truth")) truth = v;
        else if (!strcmp(a, "--port")) o.port = atoi(v);
        else if (!strcmp(a, "--listen")) o.listen = v;
        else if (!strcmp(a, "--train")) snprintf(train, sizeof train, "%s", v);
        else { am_seterr("unknown option '%s' (see --help)", a); return die(); }
    }
    if (!run) { am_seterr("give the run folder (am_train's --out)"); return die(); }
    if (o.port < 0 || o.port > 65535) { am_seterr("--port must be in 0..65535"); return die(); }
    // The signals are taken by sigwait below: every thread starts with them blocked.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    static am_review rv;
    if (am_review_open(&rv, run, truth, train)) return die();
    am_server *s = am_server_start(&rv, &o);
    if (!s) {
        am_review_close(&rv);
        return die();
    }
    if (strcmp(o.listen, "127.0.0.1") && strcmp(o.listen, "::1"))
        fprintf(stderr, "am_review: warning: listening on %s: anyone who can reach this machine and has the URL "
                        "can label and retrain\n", o.listen);
    int labelled = 0;
    for (int i = 0; i < rv.d.n; i++) labelled += rv.d.label[i] != -1;
    printf("am_review: %s: %d images, %d scored, %d labelled, cycle %d\n", run, rv.d.n, rv.nscored, labelled, rv.cycle);
    printf("open http://%s%s%s:%d/?t=%s\n", strchr(o.listen, ':') ? "[" : "", o.listen, strchr(o.listen, ':') ? "]" : "",
           am_server_port(s), am_server_token(s));
    printf("Ctrl-C stops it (labels are saved as they are made)\n");
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    fprintf(stderr, "am_review: stopping\n");
    am_server_stop(s);
    am_retrain_stop(&rv);
    am_review_close(&rv);
    return 0;
}
