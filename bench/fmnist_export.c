// Exports a Fashion-MNIST anomaly-detection task in the paper's protocol: one
// class is the anomaly at a given prevalence, all others normal; a labelled
// subset (default 5 anomalies + 495 normal). Reads the IDX files of Debian's
// dataset-fashion-mnist; writes DIR/images/*.png, DIR/labels.csv (labelled
// subset) and DIR/truth.csv (every image).
//
//   bench/fmnist_export DIR [--anomaly-class 0] [--n 5000] [--prevalence 0.01]
//       [--labeled-anomalies 5] [--labeled-normals 495] [--seed 42]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "am/error.h"
#include "am/philox.h"
#include "am/plot.h"

#define IDX_DIR "/usr/share/datasets/fashion-mnist"

static unsigned char *read_gz(const char *path, size_t *n) {
    gzFile f = gzopen(path, "rb");
    if (!f) { fprintf(stderr, "fmnist_export: cannot open %s (apt-get install dataset-fashion-mnist)\n", path); exit(1); }
    size_t cap = 1 << 20, len = 0;
    unsigned char *b = malloc(cap);
    int got;
    while ((got = gzread(f, b + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)got;
        if (len == cap) b = realloc(b, cap *= 2);
    }
    gzclose(f);
    *n = len;
    return b;
}

static void shuffle(int *v, int n, uint64_t seed, uint32_t stream) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(am_rand_u32(seed, stream, 0, (uint32_t)i) % (uint32_t)(i + 1));
        int t = v[i]; v[i] = v[j]; v[j] = t;
    }
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 ? stderr : stdout, "usage: fmnist_export DIR [--anomaly-class C] [--n N] [--prevalence P] "
                "[--labeled-anomalies A] [--labeled-normals M] [--seed S]\n");
        return argc < 2 ? 2 : 0;
    }
    const char *dir = argv[1];
    int cls = 0, n = 5000, la = 5, ln = 495;
    double prev = 0.01;
    uint64_t seed = 42;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--anomaly-class")) cls = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prevalence")) prev = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--labeled-anomalies")) la = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--labeled-normals")) ln = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else { fprintf(stderr, "fmnist_export: unknown option %s\n", argv[i]); return 2; }
    }
    size_t ni, nl;
    unsigned char *img = read_gz(IDX_DIR "/train-images-idx3-ubyte.gz", &ni);
    unsigned char *lab = read_gz(IDX_DIR "/train-labels-idx1-ubyte.gz", &nl);
    int total = (int)(nl - 8);
    int *pos = malloc(sizeof(int) * total), *neg = malloc(sizeof(int) * total), np = 0, nn = 0;
    for (int i = 0; i < total; i++) {
        if (lab[8 + i] == cls) pos[np++] = i; else neg[nn++] = i;
    }
    shuffle(pos, np, seed, 1);
    shuffle(neg, nn, seed, 2);
    int na = (int)(n * prev + 0.5);
    if (na < la + 1 || na > np || n - na > nn || ln > n - na) { fprintf(stderr, "fmnist_export: impossible sizes\n"); return 1; }
    char path[4096];
    snprintf(path, sizeof path, "%s/images", dir);
    mkdir(dir, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/truth.csv", dir);
    FILE *truth = fopen(path, "w");
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    FILE *labels = fopen(path, "w");
    if (!truth || !labels) { fprintf(stderr, "fmnist_export: cannot write in %s\n", dir); return 1; }
    fprintf(truth, "filename,label\n");
    fprintf(labels, "filename,label\n");
    for (int k = 0; k < n; k++) {
        int anomaly = k < na, src = anomaly ? pos[k] : neg[k - na];
        char name[64];
        snprintf(name, sizeof name, "fm%05d.png", src);
        snprintf(path, sizeof path, "%s/images/%s", dir, name);
        if (am_png_write(path, img + 16 + (size_t)src * 784, 28, 28, 1)) { fprintf(stderr, "fmnist_export: %s\n", am_error()); return 1; }
        fprintf(truth, "%s,%s\n", name, anomaly ? "anomaly" : "normal");
        if ((anomaly && k < la) || (!anomaly && k - na < ln)) fprintf(labels, "%s,%s\n", name, anomaly ? "anomaly" : "normal");
    }
    fclose(truth);
    fclose(labels);
    printf("fmnist_export: %d images in %s (class %d as anomaly: %d), %d + %d labelled\n", n, dir, cls, na, la, ln);
    free(img); free(lab); free(pos); free(neg);
    return 0;
}
