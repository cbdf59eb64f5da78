// libFuzzer harness: our HDF5 layer (am_h5_*), not libhdf5's file-format
// parser. libhdf5 is known to crash on hostile files (its superblock, B-tree
// and heap decoders trust sizes and addresses), and those bugs are its own:
// mutating file bytes would only find them. So each input is a recipe: the
// harness writes a valid HDF5 file (with the HDF5 API, to a per-process file
// in /dev/shm) whose layout the input decides: `images` as variable-length
// uint8 (contiguous, or chunked and gzipped), int8, floats, 2-D, a group or
// missing; `filenames` as variable-length (UTF-8 or ASCII) or fixed-length
// strings (null-padded, null-terminated, space-padded, of any size), integers
// or missing; lengths that differ; items of any size, empty or never written;
// names of any length with multi-byte UTF-8. Then it reads the items back
// in an order, with size limits, name buffers and names-only reads (no
// buffer) that the input picks, and checks each against what it wrote: a
// layout the reader must accept opens with the right count, every item
// gives its exact bytes, 2 (over the limit, with its size) or -1 (no bytes,
// message naming the file and index), its name a prefix of the one written,
// cut only to the buffer and never inside a UTF-8 character; a layout it
// must refuse fails to open, naming the file. And the input's own bytes,
// their HDF5 signature cleared, must be refused.
//
// With flag bit 64 the recipe is a dense layout instead: `images` of rank 2
// to 5, of uint8, uint16 (either byte order), int16, float32, float64 (any
// bits: NaN, Inf), int8 or int32, H and W 0..8, C 0..19, contiguous or
// chunked and gzipped, written or never written (the fill value, 0), with
// any of the `filenames` kinds above or none. The reader must accept exactly
// ranks 3 and 4 of the five types with H, W >= 1 and 1 <= C <= 16 (and
// names, when there, as long and of a string type), report the shape and
// sample type, and give each item's pixels as the float32 of the values
// written, 2 over max_bytes (with the size), names as above or BASENAME#i
// without `filenames`.
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/h5.h"
#include "fuzz_file.h"

#define MAX_ITEMS 80
#define MAX_LEN 3000
#define NAME_MAX_LEN 48

// The input, read byte by byte (zeros once it runs out).
typedef struct {
    const uint8_t *p;
    size_t n, at;
} input;

static unsigned byte(input *in) { return in->at < in->n ? in->p[in->at++] : 0; }
static unsigned u16(input *in) { return byte(in) | byte(in) << 8; }

static void check(int ok) {
    if (!ok) abort();
}

typedef struct {
    size_t len[MAX_ITEMS];
    uint8_t *data[MAX_ITEMS];
    char name[MAX_ITEMS][NAME_MAX_LEN * 2 + 1];
} items;

// Name characters: ASCII letters, digits and punctuation, and UTF-8 of 2,
// 3 and 4 bytes (no NUL and no space: both end a name in some string kinds).
static void make_name(input *in, char *out) {
    static const char *const multi[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\xad"};
    const unsigned n = byte(in) % NAME_MAX_LEN;
    size_t len = 0;
    for (unsigned k = 0; k < n && len + 4 < NAME_MAX_LEN; k++) {
        unsigned c = byte(in);
        if (c >= 0xF0) {
            const char *m = multi[c % 3];
            memcpy(out + len, m, strlen(m));
            len += strlen(m);
        } else {
            out[len++] = (char)('!' + c % 94);
        }
    }
    out[len] = 0;
}

static void put(hid_t f, const char *name, hid_t type, int rank, hsize_t n, hid_t dcpl, hid_t mtype,
                const void *buf) {
    hsize_t dims[2] = {n, 2}, maxdims[2] = {H5S_UNLIMITED, 2};
    hid_t s = H5Screate_simple(rank, dims, dcpl == H5P_DEFAULT ? NULL : maxdims);
    hid_t d = H5Dcreate2(f, name, type, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    check(s >= 0 && d >= 0);
    if (buf && n) check(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Dclose(d);
    H5Sclose(s);
}

enum { IMG_U8, IMG_U8_GZIP, IMG_I8, IMG_FLOAT, IMG_2D, IMG_GROUP, IMG_NONE, IMG_VLEN_U16, IMG_KINDS };
enum { NAM_VLEN_UTF8, NAM_VLEN_ASCII, NAM_NULLPAD, NAM_NULLTERM, NAM_SPACEPAD, NAM_INT, NAM_NONE, NAM_KINDS };

static void write_images(hid_t f, int kind, hsize_t n, const items *it, int unwritten, unsigned chunk) {
    if (kind == IMG_NONE) return;
    if (kind == IMG_GROUP) {
        H5Gclose(H5Gcreate2(f, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        return;
    }
    if (kind == IMG_FLOAT) {
        float *x = calloc(n + 1, sizeof *x);
        put(f, "images", H5T_IEEE_F32LE, 1, n, H5P_DEFAULT, H5T_NATIVE_FLOAT, x);
        free(x);
        return;
    }
    hid_t base = kind == IMG_I8 ? H5T_STD_I8LE : kind == IMG_VLEN_U16 ? H5T_STD_U16LE : H5T_STD_U8LE;
    hid_t ft = H5Tvlen_create(base), mt = H5Tvlen_create(base);
    hvl_t *v = calloc(n + 1, sizeof *v);
    for (hsize_t k = 0; k < n; k++) v[k] = (hvl_t){.len = it->len[k], .p = it->data[k]};
    if (kind == IMG_VLEN_U16)
        for (hsize_t k = 0; k < n; k++) v[k].len /= 2;
    hid_t dcpl = H5P_DEFAULT;
    if (kind == IMG_U8_GZIP) {
        hsize_t c = chunk;
        dcpl = H5Pcreate(H5P_DATASET_CREATE);
        check(H5Pset_chunk(dcpl, 1, &c) >= 0 && H5Pset_deflate(dcpl, 1) >= 0);
    }
    put(f, "images", ft, kind == IMG_2D ? 2 : 1, n, dcpl, mt, unwritten || kind == IMG_2D ? NULL : v);
    if (dcpl != H5P_DEFAULT) H5Pclose(dcpl);
    free(v);
    H5Tclose(mt);
    H5Tclose(ft);
}

static void write_names(hid_t f, int kind, hsize_t n, const items *it, unsigned fixed, int unwritten) {
    if (kind == NAM_NONE) return;
    if (kind == NAM_INT) {
        int32_t *x = calloc(n + 1, sizeof *x);
        put(f, "filenames", H5T_STD_I32LE, 1, n, H5P_DEFAULT, H5T_NATIVE_INT32, x);
        free(x);
        return;
    }
    hid_t t = H5Tcopy(H5T_C_S1);
    check(H5Tset_cset(t, kind == NAM_VLEN_ASCII ? H5T_CSET_ASCII : H5T_CSET_UTF8) >= 0);
    if (kind == NAM_VLEN_UTF8 || kind == NAM_VLEN_ASCII) {
        check(H5Tset_size(t, H5T_VARIABLE) >= 0);
        const char **p = calloc(n + 1, sizeof *p);
        for (hsize_t k = 0; k < n; k++) p[k] = it->name[k];
        put(f, "filenames", t, 1, n, H5P_DEFAULT, t, unwritten ? NULL : p);
        free(p);
    } else {
        const H5T_str_t pad = kind == NAM_NULLPAD ? H5T_STR_NULLPAD
                            : kind == NAM_NULLTERM ? H5T_STR_NULLTERM : H5T_STR_SPACEPAD;
        check(H5Tset_size(t, fixed) >= 0 && H5Tset_strpad(t, pad) >= 0);
        char *b = calloc(n + 1, fixed);
        for (hsize_t k = 0; k < n; k++) {
            char *e = b + k * fixed;
            memset(e, pad == H5T_STR_SPACEPAD ? ' ' : 0, fixed);
            const size_t len = strlen(it->name[k]);
            memcpy(e, it->name[k], len < fixed ? len : fixed);
        }
        put(f, "filenames", t, 1, n, H5P_DEFAULT, t, unwritten ? NULL : b);
        free(b);
    }
    H5Tclose(t);
}

// The name written for item k as the reader must see it: fixed-length ones
// cut to their size.
static void expected_name(const items *it, int kind, unsigned fixed, int unwritten, hsize_t k, char *out) {
    if (unwritten) {
        out[0] = 0;
        return;
    }
    size_t len = strlen(it->name[k]);
    if (kind != NAM_VLEN_UTF8 && kind != NAM_VLEN_ASCII && len > fixed) len = fixed;
    memcpy(out, it->name[k], len);
    out[len] = 0;
}

static void check_name(const char *got, const char *want, size_t cap) {
    const size_t g = strlen(got), w = strlen(want);
    check(g < cap && g <= w && !memcmp(got, want, g));
    if (g < w) check(g + 4 >= cap && ((unsigned char)want[g] & 0xC0) != 0x80);
}

// ---- dense recipes ------------------------------------------------------------

enum { D_U8, D_U16LE, D_U16BE, D_I16, D_F32, D_F64, D_I8, D_I32, D_KINDS };

typedef struct {
    int kind, rank;
    hsize_t n, H, W, C;
    size_t vals;    // values per image
    float *want;    // the n images as the reader must give them
} dense;

static hid_t dense_ftype(int kind) {
    static const hid_t *const t[D_KINDS] = {&H5T_STD_U8LE_g, &H5T_STD_U16LE_g, &H5T_STD_U16BE_g, &H5T_STD_I16LE_g,
                                            &H5T_IEEE_F32LE_g, &H5T_IEEE_F64LE_g, &H5T_STD_I8LE_g, &H5T_STD_I32LE_g};
    return *t[kind];
}

static hid_t dense_mtype(int kind) {
    static const hid_t *const t[D_KINDS] = {&H5T_NATIVE_UINT8_g, &H5T_NATIVE_UINT16_g, &H5T_NATIVE_UINT16_g,
                                            &H5T_NATIVE_INT16_g, &H5T_NATIVE_FLOAT_g, &H5T_NATIVE_DOUBLE_g,
                                            &H5T_NATIVE_INT8_g, &H5T_NATIVE_INT32_g};
    return *t[kind];
}

static const size_t dense_size[D_KINDS] = {1, 2, 2, 2, 4, 8, 1, 4};

// Writes `images` as the recipe says; d->want the values as floats.
static void write_dense(hid_t f, dense *d, const uint8_t *data, size_t size, int unwritten, int chunked,
                        unsigned chunk) {
    hsize_t dims[5] = {d->n, d->H, d->W, d->C, 2};
    const size_t total = (size_t)(d->n * d->H * d->W * d->C);
    const size_t es = dense_size[d->kind];
    uint8_t *raw = calloc(total + 1, es);
    d->want = calloc(total + 1, sizeof(float));
    for (size_t i = 0; i < total && !unwritten; i++) {
        uint8_t b[8];
        for (size_t j = 0; j < es; j++) b[j] = size ? (uint8_t)(data[(i * 8 + j * 131) % size] ^ (i >> (8 * j))) : 0;
        memcpy(raw + i * es, b, es);
        switch (d->kind) {
        case D_U8: d->want[i] = b[0]; break;
        case D_U16LE: case D_U16BE: { uint16_t v; memcpy(&v, b, 2); d->want[i] = v; break; }
        case D_I16: { int16_t v; memcpy(&v, b, 2); d->want[i] = v; break; }
        case D_F32: memcpy(&d->want[i], b, 4); break;
        case D_F64: { double v; memcpy(&v, b, 8); d->want[i] = (float)v; break; }
        default: break;
        }
    }
    hid_t dcpl = H5P_DEFAULT;
    if (chunked && d->rank <= 4 && total) {
        hsize_t c[5] = {chunk < d->n ? chunk : d->n, d->H, d->W, d->C, 2};
        dcpl = H5Pcreate(H5P_DATASET_CREATE);
        check(H5Pset_chunk(dcpl, d->rank, c) >= 0 && H5Pset_deflate(dcpl, 1) >= 0);
    }
    hid_t s = H5Screate_simple(d->rank, dims, NULL);
    hid_t ds = H5Dcreate2(f, "images", dense_ftype(d->kind), s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    check(s >= 0 && ds >= 0);
    if (!unwritten && total && d->rank <= 4)
        check(H5Dwrite(ds, dense_mtype(d->kind), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0);
    if (unwritten || d->rank > 4) memset(d->want, 0, (total + 1) * sizeof(float));
    H5Dclose(ds);
    H5Sclose(s);
    if (dcpl != H5P_DEFAULT) H5Pclose(dcpl);
    free(raw);
}

static int same_float(float a, float b) { return isnan(a) ? isnan(b) : a == b; }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init("h5");
    return 0;
}

// The input itself as a file, its bytes at 0, 512, 1024, 2048 and 4096
// cleared so that it holds no HDF5 signature: refused, naming the file.
static void not_hdf5(const uint8_t *data, size_t size) {
    uint8_t *b = malloc(size + 1);
    memcpy(b, data, size);
    for (size_t off = 0; off < size; off = off ? 2 * off : 512) b[off] = 0;
    fuzz_file_write(b, size);
    free(b);
    check(am_h5_open(fuzz_path) == NULL && strstr(am_error(), fuzz_path) && strstr(am_error(), "not an HDF5 file"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    not_hdf5(data, size);
    input in = {data, size, 0};
    const int ik = (int)(byte(&in) % IMG_KINDS), nk = (int)(byte(&in) % NAM_KINDS);
    const unsigned flags = byte(&in);
    const hsize_t n = byte(&in) % MAX_ITEMS;
    const hsize_t nn = flags & 1 ? byte(&in) % MAX_ITEMS : n;
    const unsigned fixed = 1 + byte(&in) % 40, chunk = 1 + byte(&in) % 16;
    const int img_unwritten = (flags & 6) == 6, names_unwritten = (flags & 24) == 24;
    static items it;
    for (hsize_t k = 0; k < MAX_ITEMS; k++) {
        const hsize_t len = k < n ? (byte(&in) % 4 == 0 ? 0 : u16(&in) % MAX_LEN) : 0;
        it.len[k] = ik == IMG_VLEN_U16 ? len & ~(size_t)1 : len;
        it.data[k] = malloc(it.len[k] + 1);
        for (size_t j = 0; j < it.len[k]; j++) it.data[k][j] = (uint8_t)(size ? data[(k * 131 + j) % size] ^ j : j);
        if (k < (n > nn ? n : nn)) make_name(&in, it.name[k]);
        else it.name[k][0] = 0;
    }

    hid_t f = H5Fcreate(fuzz_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    check(f >= 0);
    if (flags & 32) H5Gclose(H5Gcreate2(f, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (flags & 64) {
        dense d = {.kind = (int)(byte(&in) % D_KINDS), .rank = 2 + (int)(byte(&in) % 4), .n = n};
        d.H = byte(&in) % 9;
        d.W = byte(&in) % 9;
        d.C = d.rank == 4 ? byte(&in) % 20 : 1;
        d.vals = (size_t)(d.H * d.W * d.C);
        write_dense(f, &d, data, size, img_unwritten, flags & 2, chunk);
        write_names(f, nk, nn, &it, fixed, names_unwritten);
        check(H5Fclose(f) >= 0);
        const int valid = d.kind <= D_F64 && (d.rank == 3 || d.rank == 4) && d.H && d.W && d.C && d.C <= 16 &&
                          nk != NAM_INT && (nk == NAM_NONE || n == nn);
        am_h5 *h = am_h5_open(fuzz_path);
        if (!valid) {
            check(h == NULL && strstr(am_error(), fuzz_path) != NULL);
        } else {
            static const am_sample_type types[] = {AM_SAMPLE_U8, AM_SAMPLE_U16, AM_SAMPLE_U16, AM_SAMPLE_INT,
                                                   AM_SAMPLE_FLOAT, AM_SAMPLE_FLOAT};
            int w = -1, hh = -1, bands = -1;
            am_sample_type t = AM_SAMPLE_U8;
            check(h != NULL && am_h5_count(h) == n && am_h5_dense(h, &w, &hh, &bands, &t) == 1);
            check((hsize_t)w == d.W && (hsize_t)hh == d.H && (hsize_t)bands == d.C && t == types[d.kind]);
            const char *base = strrchr(fuzz_path, '/') + 1;
            uint8_t *buf = NULL;
            size_t cap = 0;
            const size_t bytes = d.vals * sizeof(float);
            const unsigned order = byte(&in) % 3, reads = n ? 1 + byte(&in) % (2 * MAX_ITEMS) : 0;
            for (unsigned r = 0; r < reads; r++) {
                const hsize_t i = order == 0 ? r % n : order == 1 ? n - 1 - r % n : byte(&in) % n;
                const unsigned how = byte(&in);
                const int names_only = (how & 6) == 6;
                const size_t max_bytes = how & 1 ? SIZE_MAX : u16(&in) % (bytes + 100);
                const size_t ncap = 1 + byte(&in) % (2 * NAME_MAX_LEN);
                char name[2 * NAME_MAX_LEN + 1], want[2 * NAME_MAX_LEN + 64];
                size_t got = 7777;
                const int rc = am_h5_read(h, i, name, ncap, names_only ? NULL : &buf, &got, &cap, max_bytes);
                if (nk == NAM_NONE) snprintf(want, sizeof want, "%s#%llu", base, (unsigned long long)i);
                else expected_name(&it, nk, fixed, names_unwritten, i, want);
                check_name(name, want, ncap);
                if (names_only) {
                    check(rc == 0 && got == 0);
                } else if (bytes > max_bytes) {
                    check(rc == 2 && got == bytes);
                } else {
                    check(rc == 0 && got == bytes && cap >= bytes);
                    const float *px = (const float *)buf;
                    for (size_t v = 0; v < d.vals; v++) check(same_float(px[v], d.want[i * d.vals + v]));
                }
            }
            char name[8];
            size_t got;
            check(am_h5_read(h, n, name, sizeof name, &buf, &got, &cap, SIZE_MAX) == -1);
            am_h5_close(h);
            free(buf);
        }
        free(d.want);
        for (hsize_t k = 0; k < MAX_ITEMS; k++) free(it.data[k]);
        return 0;
    }
    write_images(f, ik, n, &it, img_unwritten, chunk);
    write_names(f, nk, nn, &it, fixed, names_unwritten);
    check(H5Fclose(f) >= 0);

    const int valid = (ik == IMG_U8 || ik == IMG_U8_GZIP || ik == IMG_I8) && nk != NAM_INT && nk != NAM_NONE && n == nn;
    am_h5 *h = am_h5_open(fuzz_path);
    if (!valid) {
        check(h == NULL && strstr(am_error(), fuzz_path) != NULL);
    } else {
        check(h != NULL && am_h5_count(h) == n);
        uint8_t *buf = NULL;
        size_t cap = 0;
        const unsigned order = byte(&in) % 3, reads = n ? 1 + byte(&in) % (2 * MAX_ITEMS) : 0;
        for (unsigned r = 0; r < reads; r++) {
            const hsize_t i = order == 0 ? r % n : order == 1 ? n - 1 - r % n : byte(&in) % n;
            const unsigned how = byte(&in);
            const int names_only = (how & 6) == 6;
            const size_t max_bytes = how & 1 ? SIZE_MAX : u16(&in) % (MAX_LEN + 100);
            const size_t ncap = 1 + byte(&in) % (2 * NAME_MAX_LEN);
            char name[2 * NAME_MAX_LEN + 1], want[2 * NAME_MAX_LEN + 1];
            size_t got = 7777;
            const int rc = am_h5_read(h, i, name, ncap, names_only ? NULL : &buf, &got, &cap, max_bytes);
            expected_name(&it, nk, fixed, names_unwritten, i, want);
            check_name(name, want, ncap);
            const size_t len = img_unwritten ? 0 : it.len[i];
            if (names_only) {
                check(rc == 0 && got == 0);
            } else if (len == 0) {
                char idx[32];
                snprintf(idx, sizeof idx, "item %llu", (unsigned long long)i);
                check(rc == -1 && strstr(am_error(), fuzz_path) && strstr(am_error(), idx));
            } else if (len > max_bytes) {
                check(rc == 2 && got == len);
            } else {
                check(rc == 0 && got == len && cap >= len && !memcmp(buf, it.data[i], len));
            }
        }
        char name[8];
        size_t got;
        check(am_h5_read(h, n, name, sizeof name, &buf, &got, &cap, SIZE_MAX) == -1);
        am_h5_close(h);
        free(buf);
    }
    for (hsize_t k = 0; k < MAX_ITEMS; k++) free(it.data[k]);
    return 0;
}
