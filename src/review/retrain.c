// Retraining from the page (include/am/review.h): the next active-learning
// cycle runs in a child am_train that resumes the run's checkpoint with the
// expert's labels; a thread reads its output (lines for the page and
// RUN/retrain.log) and, when it succeeds, reloads the scores.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "am/error.h"
#include "am/files.h"
#include "am/review.h"

extern char **environ;

typedef struct {
    am_review *rv;
    int fd;     // the child's stdout and stderr
    FILE *log;  // RUN/retrain.log
} watch_arg;

// One line of the child's output (the lock held): kept for the page; a
// progress line ("label [###...]  37% ...") also gives the percentage.
static void add_line(am_retrain *r, const char *s) {
    if (!*s) return;
    snprintf(r->log[r->nlog % AM_RETRAIN_LOG], sizeof r->log[0], "%s", s);
    r->nlog++;
    const char *bar = strstr(s, "] ");
    int pct;
    if (strchr(s, '[') && bar && sscanf(bar + 2, "%d%%", &pct) == 1) {
        r->percent = pct;
        snprintf(r->line, sizeof r->line, "%s", s);
    }
}

static void *watch(void *p) {
    watch_arg *a = p;
    am_review *rv = a->rv;
    am_retrain *r = &rv->retrain;
    char buf[4096], line[512];
    size_t len = 0;
    ssize_t got;
    while ((got = read(a->fd, buf, sizeof buf)) != 0) {
        if (got < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (a->log) fwrite(buf, 1, (size_t)got, a->log);
        pthread_mutex_lock(&rv->lock);
        for (ssize_t k = 0; k < got; k++) {
            char c = buf[k];
            if (c == '\n' || c == '\r') {
                line[len] = 0;
                add_line(r, line);
                len = 0;
            } else if (len < sizeof line - 1) {
                line[len++] = c;
            }
        }
        pthread_mutex_unlock(&rv->lock);
    }
    close(a->fd);
    int status = 0;
    while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR) {}
    pthread_mutex_lock(&rv->lock);
    line[len] = 0;
    add_line(r, line);
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    int ok = r->exit_code == 0;
    if (ok && am_review_load_scores(rv)) {
        add_line(r, am_error());
        ok = 0;
    }
    // am_train wrote labeled_data.csv from the snapshot: labels set since
    // then are in the book, which writes it again.
    if (am_labelbook_save(&rv->book)) {
        add_line(r, am_error());
        ok = 0;
    }
    if (ok) {
        rv->generation++;
        rv->cycle++;
        r->percent = 100;
    }
    r->state = ok ? AM_RETRAIN_DONE : AM_RETRAIN_FAILED;
    if (a->log) {
        fprintf(a->log, "am_review: the retrain %s (exit status %d)\n", ok ? "finished" : "failed", r->exit_code);
        fclose(a->log);
    }
    pthread_mutex_unlock(&rv->lock);
    free(a);
    return NULL;
}

// The labels in force for the child: review_labels.csv.
static int snapshot(am_review *rv, char *path, size_t n) {
    snprintf(path, n, "%s/review_labels.csv", rv->dir);
    pthread_mutex_lock(&rv->book.lock);
    char *text = am_dataset_labels_csv(&rv->d);
    pthread_mutex_unlock(&rv->book.lock);
    int rc = am_file_write_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

static int start(am_review *rv) {
    am_retrain *r = &rv->retrain;
    if (r->state == AM_RETRAIN_RUNNING) return am_seterr("a retrain is already running");
    if (r->joinable) {
        pthread_join(r->thread, NULL);
        r->joinable = 0;
    }
    char config[4200], ckpt[4200], labels[4200], logp[4200], cycles[16];
    snprintf(config, sizeof config, "%s/config.txt", rv->dir);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.amck", rv->dir);
    snprintf(logp, sizeof logp, "%s/retrain.log", rv->dir);
    snprintf(cycles, sizeof cycles, "%d", rv->cycle + 1);
    if (snapshot(rv, labels, sizeof labels)) return -1;
    char *argv[] = {rv->train_exe, "--config", config, "--resume", ckpt, "--labels", labels, "--replace-labels",
                    "--cycles", cycles, "--oracle", "0", "--out", rv->dir, NULL};
    int fds[2];
    if (pipe2(fds, O_CLOEXEC)) return am_seterr("cannot start the retrain: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    int err = posix_spawn(&r->pid, rv->train_exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err) {
        close(fds[0]);
        return am_seterr("cannot run '%s' for the retrain: %s (is am_train built beside am_review?)", rv->train_exe,
                         strerror(err));
    }
    watch_arg *a = AM_MALLOC(sizeof *a);
    *a = (watch_arg){rv, fds[0], fopen(logp, "w")};
    r->state = AM_RETRAIN_RUNNING;
    r->percent = 0;
    r->exit_code = 0;
    r->nlog = 0;
    r->line[0] = 0;
    add_line(r, "am_review: retraining (one more cycle of am_train from the run's checkpoint)");
    pthread_create(&r->thread, NULL, watch, a);
    r->joinable = 1;
    return 0;
}

int am_retrain_start(am_review *rv) {
    pthread_mutex_lock(&rv->lock);
    int rc = start(rv);
    pthread_mutex_unlock(&rv->lock);
    return rc;
}

void am_retrain_stop(am_review *rv) {
    pthread_mutex_lock(&rv->lock);
    if (rv->retrain.state == AM_RETRAIN_RUNNING) kill(rv->retrain.pid, SIGTERM);
    pthread_mutex_unlock(&rv->lock);
}

void am_retrain_wait(am_review *rv) {
    pthread_mutex_lock(&rv->lock);
    int joinable = rv->retrain.joinable;
    rv->retrain.joinable = 0;
    pthread_mutex_unlock(&rv->lock);
    if (joinable) pthread_join(rv->retrain.thread, NULL);
}
