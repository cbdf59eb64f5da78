// libFuzzer harness: TIFF images (am_tiff_read over the real libtiff) from
// memory, and the same bytes from a file (the input written to a per-process
// temporary file, fuzz_file.h), which must agree: the same result, and on
// success the same size, type and samples bit for bit. Checks the contract:
// a read image has w, h >= 1, 1..16 channels, a sample type of the four, and
// h * w * planes readable floats; a failure names the file.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/tiff.h"
#include "fuzz_file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init("tiff");
    return 0;
}

typedef struct {
    float *px;
    int w, h, planes;
    am_sample_type type;
} image;

static int read_one(image *im, const char *path, const uint8_t *data, size_t size, const char *name) {
    memset(im, 0, sizeof *im);
    int rc = am_tiff_read(path, data, size, &im->px, &im->w, &im->h, &im->planes, &im->type);
    if (rc) {
        if (rc != -1 || im->px || !strstr(am_error(), name)) abort();
        return rc;
    }
    if (im->w < 1 || im->h < 1 || im->planes < 1 || im->planes > AM_TIFF_MAX_PLANES) abort();
    if (im->type < AM_SAMPLE_U8 || im->type > AM_SAMPLE_FLOAT) abort();
    // Touch the first and the last sample: the buffer holds h * w * planes floats.
    volatile float first = im->px[0], last = im->px[(size_t)im->w * im->h * im->planes - 1];
    (void)first;
    (void)last;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    image a, b;
    int ra = read_one(&a, "fuzz.tif", data, size, "fuzz.tif");
    const char *path = fuzz_file_write(data, size);
    int rb = read_one(&b, path, NULL, 0, path);
    if (ra != rb) abort();
    if (!ra && (a.w != b.w || a.h != b.h || a.planes != b.planes || a.type != b.type ||
                memcmp(a.px, b.px, sizeof(float) * (size_t)a.w * a.h * a.planes)))
        abort();
    free(a.px);
    free(b.px);
    return 0;
}
