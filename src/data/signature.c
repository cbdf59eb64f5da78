// File signatures: which reader a file belongs to, in every build (the
// readers themselves, fits.c, tiff.c, h5.c, are left out of a build without
// their library; X_none.c then refuses the file, naming the package).
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "am/fits.h"
#include "am/h5.h"
#include "am/tiff.h"

int am_fits_signature(const void *sig, size_t n) { return n >= 9 && !memcmp(sig, "SIMPLE  =", 9); }

int am_tiff_signature(const void *sig, size_t n) {
    const uint8_t *b = sig;
    if (n < 4) return 0;
    if (b[0] == 'I' && b[1] == 'I') return (b[2] == 42 || b[2] == 43) && b[3] == 0;
    if (b[0] == 'M' && b[1] == 'M') return b[2] == 0 && (b[3] == 42 || b[3] == 43);
    return 0;
}

int am_h5_signature(const char *path) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int found = 0;
    for (long off = 0; !found && off >= 0 && off < (1L << 40); off = off ? 2 * off : 512) {
        unsigned char b[8];
        if (fseek(f, off, SEEK_SET) || fread(b, 1, 8, f) != 8) break;
        found = !memcmp(b, sig, 8);
    }
    fclose(f);
    return found;
}
