// The expert's labels (src/review/labelbook.c): set, unsure and undo,
// logged and read back by a new book; labeled_data.csv written after each;
// a torn last log line cut off, a damaged earlier one refused, a foreign
// log refused; kill -9 at random moments of a labelling child, each time
// the labels a prefix of its changes; 8 threads labelling at once, none lost.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "am/dataset.h"
#include "am/error.h"
#include "am/labelbook.h"
#include "test.h"

#define NIMG 256

static char run[64];

// A dataset of NIMG names img000.png ..., none labelled.
static void make_set(am_dataset *d) {
    memset(d, 0, sizeof *d);
    d->n = NIMG;
    d->paths = malloc(sizeof(char *) * NIMG);
    d->names = malloc(sizeof(char *) * NIMG);
    d->label = malloc(sizeof(int) * NIMG);
    for (int i = 0; i < NIMG; i++) {
        d->paths[i] = malloc(32);
        snprintf(d->paths[i], 32, "img%03d.png", i);
        d->names[i] = d->paths[i];
        d->label[i] = AM_UNLABELLED;
    }
}

static void setup(void) {
    snprintf(run, sizeof run, "/tmp/am_labels_XXXXXX");
    ck_assert(mkdtemp(run));
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", run);
    ck_assert(system(cmd) == 0);
}

static char *run_file(const char *name) {
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", run, name);
    return p;
}

START_TEST(test_set_undo_reopen) {
    am_dataset d, e;
    make_set(&d);
    am_labelbook b;
    ck_assert_msg(am_labelbook_open(&b, &d, run) == 0, "%s", am_error());
    ck_assert(am_labelbook_set(&b, "img001.png", AM_ANOMALY) == 0);
    ck_assert(am_labelbook_set(&b, "img002.png", AM_NORMAL) == 0);
    ck_assert(am_labelbook_set(&b, "img002.png", AM_ANOMALY) == 0);
    ck_assert(am_labelbook_set(&b, "img003.png", AM_NORMAL) == 0);
    ck_assert(am_labelbook_set(&b, "img003.png", AM_UNLABELLED) == 0);  // unsure
    char name[64];
    ck_assert_int_eq(am_labelbook_undo(&b, name, sizeof name), 1);  // img003 back to normal
    ck_assert_str_eq(name, "img003.png");
    ck_assert_int_eq(am_labelbook_undo(&b, name, sizeof name), 1);  // img003 back to unlabelled
    ck_assert_int_eq(am_labelbook_undo(&b, name, sizeof name), 1);  // img002 back to normal
    ck_assert_str_eq(name, "img002.png");
    ck_assert_int_eq(am_labelbook_set(&b, "nope.png", AM_NORMAL), -1);
    ck_assert_msg(strstr(am_error(), "nope.png"), "%s", am_error());
    ck_assert(d.label[1] == AM_ANOMALY && d.label[2] == AM_NORMAL && d.label[3] == AM_UNLABELLED);
    char *csv = test_read_file(run_file("labeled_data.csv"), NULL);
    ck_assert_msg(strstr(csv, "img001.png,anomaly") && strstr(csv, "img002.png,normal") && !strstr(csv, "img003"),
                  "%s", csv);
    free(csv);
    am_labelbook_close(&b);
    // A new book over the run's starting labels replays to the same labels,
    // and its undo goes on from there.
    make_set(&e);
    ck_assert_msg(am_labelbook_open(&b, &e, run) == 0, "%s", am_error());
    ck_assert(!memcmp(d.label, e.label, sizeof(int) * NIMG));
    ck_assert_int_eq(am_labelbook_undo(&b, name, sizeof name), 1);  // img002's first label undone
    ck_assert_str_eq(name, "img002.png");
    ck_assert_int_eq(am_labelbook_undo(&b, name, sizeof name), 1);  // img001 back to unlabelled
    ck_assert_str_eq(name, "img001.png");
    ck_assert(e.label[1] == AM_UNLABELLED && e.label[2] == AM_UNLABELLED);
    ck_assert_int_eq(am_labelbook_undo(&b, name, sizeof name), 0);
    am_labelbook_close(&b);
    am_dataset_free(&d);
    am_dataset_free(&e);
}
END_TEST

START_TEST(test_torn_damaged_foreign) {
    am_dataset d;
    make_set(&d);
    am_labelbook b;
    ck_assert(am_labelbook_open(&b, &d, run) == 0);
    ck_assert(am_labelbook_set(&b, "img010.png", AM_ANOMALY) == 0);
    am_labelbook_close(&b);
    struct stat st;
    ck_assert(stat(run_file("labels.log"), &st) == 0);
    off_t whole = st.st_size;
    FILE *f = fopen(run_file("labels.log"), "a");
    fputs("set\tanomaly\timg0", f);  // a kill mid-write
    fclose(f);
    am_dataset_free(&d);
    make_set(&d);
    ck_assert_msg(am_labelbook_open(&b, &d, run) == 0, "%s", am_error());
    ck_assert(d.label[10] == AM_ANOMALY);
    ck_assert(stat(run_file("labels.log"), &st) == 0 && st.st_size == whole);  // cut off
    ck_assert(am_labelbook_set(&b, "img011.png", AM_NORMAL) == 0);
    am_labelbook_close(&b);
    // A damaged line before the end: refused, named.
    f = fopen(run_file("labels.log"), "r+");
    fseek(f, 5, SEEK_SET);
    fputc('X', f);
    fclose(f);
    am_dataset_free(&d);
    make_set(&d);
    ck_assert_int_eq(am_labelbook_open(&b, &d, run), -1);
    ck_assert_msg(strstr(am_error(), "labels.log':1") && strstr(am_error(), "damaged"), "%s", am_error());
    // Another run's log: a name this run lacks.
    unlink(run_file("labels.log"));
    am_dataset_free(&d);
    make_set(&d);
    ck_assert(am_labelbook_open(&b, &d, run) == 0);
    ck_assert(am_labelbook_set(&b, "img001.png", AM_ANOMALY) == 0);
    ck_assert(am_labelbook_set(&b, "img200.png", AM_NORMAL) == 0);
    am_labelbook_close(&b);
    d.n = 100;  // a run of fewer images
    for (int i = 0; i < NIMG; i++) d.label[i] = AM_UNLABELLED;
    ck_assert_int_eq(am_labelbook_open(&b, &d, run), -1);
    ck_assert_msg(strstr(am_error(), "img200.png") && strstr(am_error(), "another run"), "%s", am_error());
    ck_assert_msg(d.label[1] == AM_UNLABELLED, "a refused log left the labels of its first lines");
    d.n = NIMG;
    am_dataset_free(&d);
}
END_TEST

// A child labels img000, img001, ... anomaly, one after another, until
// killed; after each kill the labels are a prefix of that order (nothing
// lost before the kill, nothing torn), the child resuming where it stopped.
START_TEST(test_kill9) {
    srand(7);
    int prev = 0;
    for (int round = 0; round < 12; round++) {
        pid_t p = fork();
        if (p == 0) {
            am_dataset d;
            make_set(&d);
            am_labelbook b;
            if (am_labelbook_open(&b, &d, run)) _exit(3);
            int k = 0;
            while (k < NIMG && d.label[k] == AM_ANOMALY) k++;
            for (; k < NIMG; k++)
                if (am_labelbook_set(&b, d.names[k], AM_ANOMALY)) _exit(4);
            _exit(0);
        }
        struct timespec t = {0, (rand() % 20000) * 1000L};
        nanosleep(&t, NULL);
        kill(p, SIGKILL);
        int st;
        ck_assert(waitpid(p, &st, 0) == p);
        ck_assert_msg(!WIFEXITED(st) || WEXITSTATUS(st) == 0, "the child failed: %d", WEXITSTATUS(st));
        am_dataset d;
        make_set(&d);
        am_labelbook b;
        ck_assert_msg(am_labelbook_open(&b, &d, run) == 0, "%s", am_error());
        int m = 0;
        while (m < NIMG && d.label[m] == AM_ANOMALY) m++;
        for (int i = m; i < NIMG; i++) ck_assert_msg(d.label[i] == AM_UNLABELLED, "round %d: image %d after a gap", round, i);
        ck_assert(m >= prev);
        prev = m;
        char *csv = test_read_file(run_file("labeled_data.csv"), NULL);
        int rows = 0;
        for (char *c = strstr(csv, ",anomaly"); c; c = strstr(c + 1, ",anomaly")) rows++;
        ck_assert_int_eq(rows, m);
        free(csv);
        am_labelbook_close(&b);
        am_dataset_free(&d);
    }
    printf("  labels kill -9: 12 kills, %d of %d labels kept in order\n", prev, NIMG);
}
END_TEST

typedef struct {
    am_labelbook *b;
    int first;
} worker;

static void *label_some(void *arg) {
    worker *w = arg;
    char name[32];
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof name, "img%03d.png", w->first + i);
        if (am_labelbook_set(w->b, name, (w->first + i) % 2 ? AM_ANOMALY : AM_NORMAL)) return w;
    }
    return NULL;
}

START_TEST(test_threads) {
    am_dataset d, e;
    make_set(&d);
    am_labelbook b;
    ck_assert(am_labelbook_open(&b, &d, run) == 0);
    pthread_t t[8];
    worker w[8];
    for (int k = 0; k < 8; k++) {
        w[k] = (worker){&b, 25 * k};
        pthread_create(&t[k], NULL, label_some, &w[k]);
    }
    for (int k = 0; k < 8; k++) {
        void *r;
        pthread_join(t[k], &r);
        ck_assert(r == NULL);
    }
    am_labelbook_close(&b);
    make_set(&e);
    ck_assert(am_labelbook_open(&b, &e, run) == 0);
    for (int i = 0; i < 200; i++) ck_assert_int_eq(e.label[i], i % 2 ? AM_ANOMALY : AM_NORMAL);
    ck_assert(!memcmp(d.label, e.label, sizeof(int) * NIMG));
    am_labelbook_close(&b);
    am_dataset_free(&d);
    am_dataset_free(&e);
}
END_TEST

Suite *suite_labelbook(void) {
    Suite *s = suite_create("labelbook");
    TCase *tc = tcase_create("labels");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_set_undo_reopen);
    tcase_add_test(tc, test_torn_damaged_foreign);
    tcase_add_test(tc, test_kill9);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    return s;
}
