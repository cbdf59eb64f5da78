// libFuzzer harness: the am_train config file reader. Every string option
// stays NUL-terminated inside its field, and a configuration that was read
// writes back to a file that reads to the same configuration (unless a value
// holds '#', which the reader takes for a comment).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/config.h"
#include "fuzz_file.h"

static char path2[64];  // the written-back configuration

static void cleanup(void) { unlink(path2); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init("config");
    snprintf(path2, sizeof path2, "%s/am_fuzz_config2_%d", fuzz_tmpdir(), (int)getpid());
    atexit(cleanup);
    return 0;
}

static int terminated(const char *s, size_t n) { return memchr(s, 0, n) != NULL; }

static int has_hash(const am_config *c) {
    const char *s[] = {c->images, c->labels, c->truth, c->out, c->weights, c->resume,
                       c->arch, c->device, c->policy, c->optimizer, c->schedule};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (strchr(s[i], '#')) return 1;
    return 0;
}

static char *text_of(const am_config *c, size_t *n) {
    char *buf = NULL;
    FILE *m = open_memstream(&buf, n);
    if (!m) abort();
    am_config_write(c, m);
    fclose(m);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file_write(data, size);
    static am_config c, back;
    am_config_defaults(&c);
    int rc = am_config_read_file(&c, path);
    if (!terminated(c.images, sizeof c.images) || !terminated(c.labels, sizeof c.labels) ||
        !terminated(c.truth, sizeof c.truth) || !terminated(c.out, sizeof c.out) ||
        !terminated(c.weights, sizeof c.weights) || !terminated(c.resume, sizeof c.resume) ||
        !terminated(c.arch, sizeof c.arch) || !terminated(c.device, sizeof c.device) ||
        !terminated(c.policy, sizeof c.policy) || !terminated(c.optimizer, sizeof c.optimizer) ||
        !terminated(c.schedule, sizeof c.schedule))
        abort();
    if (rc || has_hash(&c)) return 0;
    size_t n1, n2;
    char *t1 = text_of(&c, &n1);
    FILE *f = fopen(path2, "wb");
    if (!f) abort();
    fwrite(t1, 1, n1, f);
    fclose(f);
    am_config_defaults(&back);
    if (am_config_read_file(&back, path2)) abort();  // what was written must read back
    char *t2 = text_of(&back, &n2);
    if (n1 != n2 || memcmp(t1, t2, n1)) abort();
    free(t1);
    free(t2);
    return 0;
}
