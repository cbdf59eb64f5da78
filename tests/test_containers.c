// Containers of encoded images for am_infer: tar shards (src/data/tar.c,
// archives made here with libarchive's writer: plain and compressed, members
// in order, entries that are no regular file passed over, members over the
// size limit, truncated and corrupt shards) and HDF5 files (src/data/h5.c:
// the round trip through am_h5_write, the h5py fixtures in the Python
// AnomalyMatch tool's two layouts, fixed-length names, every mistyped or
// missing part, sizes over the limit, a damaged heap collection, random
// against sequential reads, names alone; dense arrays of pixels: the h5py
// fixtures of every type and rank, files of many images across the read
// blocks, the refused types, ranks and shapes) and members by name
// (src/data/member.c: ARCHIVE#K of a tar or either HDF5 layout, the pool of
// open HDF5 handles).
#include <archive.h>
#include <archive_entry.h>
#include <ftw.h>
#include <hdf5.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "am/error.h"
#include "am/h5.h"
#include "am/inputs.h"
#include "am/member.h"
#include "am/tar.h"
#include "test.h"

// ---- helpers ---------------------------------------------------------------

static char tmpdir[64];

static void setup_dir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/am_ct_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown_dir(void) { nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static const char *in_tmp(const char *rel) {
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, rel);
    return path[k];
}

// The deterministic content of a member or item: byte j of item `seed`
// (hashed: it hardly compresses).
static uint8_t content(size_t j, unsigned seed) {
    uint32_t x = (uint32_t)j * 2654435761u ^ (seed + 1) * 40503u;
    x ^= x >> 15;
    x *= 2246822519u;
    return (uint8_t)(x >> 13);
}

static uint8_t *make_content(size_t n, unsigned seed) {
    uint8_t *b = malloc(n ? n : 1);
    for (size_t j = 0; j < n; j++) b[j] = content(j, seed);
    return b;
}

static void check_content(const uint8_t *b, size_t n, unsigned seed, const char *what) {
    for (size_t j = 0; j < n; j++)
        ck_assert_msg(b[j] == content(j, seed), "%s: byte %zu is %u, expected %u", what, j, b[j], content(j, seed));
}

static void write_file(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void truncate_file(const char *path, off_t n) { ck_assert_int_eq(truncate(path, n), 0); }

static void error_names(const char *path, const char *what) {
    ck_assert_msg(strstr(am_error(), path) && strstr(am_error(), what), "error '%s' should name '%s' and say '%s'",
                  am_error(), path, what);
}

// ---- tar -------------------------------------------------------------------

// An archive entry: f a regular file of `size` bytes, d a directory,
// l a symbolic link, h a hard link to a.png, p a FIFO.
typedef struct {
    const char *name;
    char type;
    size_t size;
} member;

static const member shard[] = {
    {"a.png", 'f', 100},       {"sub", 'd', 0},          {"sub/b.jpg", 'f', 1500}, {"link.png", 'l', 0},
    {"big.png", 'f', 5000},    {"hard.png", 'h', 0},     {"fifo", 'p', 0},         {"sub/empty.png", 'f', 0},
    {"\303\274n\303\257code.png", 'f', 777},
};
#define NSHARD (sizeof shard / sizeof shard[0])

// Writes members to path through the filter (0 none, 'g' gzip, 'b' bzip2,
// 'x' xz, 'z' zstd) as pax or, with ustar, ustar with the names' bytes as
// they are. pax names are UTF-8 (as Python's tarfile writes them), written
// in a UTF-8 locale on this thread (libarchive's pax writer needs one); the
// reader runs in the C locale.
static void make_tar(const char *path, const member *m, size_t n, char filter, int ustar) {
    locale_t utf8 = ustar ? (locale_t)0 : newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;
    struct archive *a = archive_write_new();
    if (filter == 'g') ck_assert_int_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    if (filter == 'b') ck_assert_int_eq(archive_write_add_filter_bzip2(a), ARCHIVE_OK);
    if (filter == 'x') ck_assert_int_eq(archive_write_add_filter_xz(a), ARCHIVE_OK);
    if (filter == 'z') ck_assert_int_eq(archive_write_add_filter_zstd(a), ARCHIVE_OK);
    ck_assert_int_eq(ustar ? archive_write_set_format_ustar(a) : archive_write_set_format_pax_restricted(a),
                     ARCHIVE_OK);
    ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t k = 0; k < n; k++) {
        struct archive_entry *e = archive_entry_new();
        if (utf8) archive_entry_set_pathname_utf8(e, m[k].name);
        else archive_entry_copy_pathname(e, m[k].name);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_filetype(e, m[k].type == 'd' ? AE_IFDIR : m[k].type == 'l' ? AE_IFLNK
                                                                  : m[k].type == 'p' ? AE_IFIFO
                                                                                     : AE_IFREG);
        if (m[k].type == 'l') archive_entry_set_symlink(e, "a.png");
        if (m[k].type == 'h') archive_entry_set_hardlink(e, "a.png");
        archive_entry_set_size(e, m[k].type == 'f' ? (la_int64_t)m[k].size : 0);
        int r = archive_write_header(a, e);
        ck_assert_msg(r == ARCHIVE_OK, "%s: %d %s", m[k].name, r, archive_error_string(a) ? archive_error_string(a) : "");
        if (m[k].type == 'f' && m[k].size) {
            uint8_t *b = make_content(m[k].size, (unsigned)k);
            ck_assert_int_eq(archive_write_data(a, b, m[k].size), (la_ssize_t)m[k].size);
            free(b);
        }
        archive_entry_free(e);
    }
    ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    if (utf8) {
        uselocale(old);
        freelocale(utf8);
    }
}

// Reads the shard member by member (data read, limit 2048 bytes) and checks
// that exactly its regular files come, in order, with their bytes.
static void expect_shard(am_tar *t, const char *what) {
    const char *name = NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    uint64_t count = 0;
    for (size_t k = 0; k < NSHARD; k++) {
        if (shard[k].type != 'f') continue;
        const int expect = shard[k].size > 2048 ? 2 : 1;
        int r = am_tar_next(t, &name, &buf, &n, &cap, 2048);
        ck_assert_msg(r == expect, "%s: member '%s' gave %d (%s)", what, shard[k].name, r, am_error());
        ck_assert_str_eq(name, shard[k].name);
        ck_assert_uint_eq(n, shard[k].size);
        if (expect == 1) check_content(buf, n, (unsigned)k, shard[k].name);
        ck_assert_uint_eq(am_tar_count(t), ++count);
    }
    ck_assert_int_eq(am_tar_next(t, &name, &buf, &n, &cap, 2048), 0);
    ck_assert_int_eq(am_tar_next(t, &name, &buf, &n, &cap, 2048), 0);
    free(buf);
}

START_TEST(test_tar_members_in_order) {
    static const char filters[] = {0, 'g', 'b', 'x', 'z'};
    static const char *const names[] = {"s.tar", "s.tar.gz", "s.tar.bz2", "s.tar.xz", "s.tar.zst"};
    for (int f = 0; f < 5; f++) {
        const char *path = in_tmp(names[f]);
        make_tar(path, shard, NSHARD, filters[f], 0);
        am_tar *t = am_tar_open(path);
        ck_assert_msg(t != NULL, "%s", am_error());
        expect_shard(t, names[f]);
        am_tar_close(t);
    }
}
END_TEST

// A tgz read from memory; a ustar shard whose names are raw bytes.
START_TEST(test_tar_memory_and_raw_names) {
    const char *path = in_tmp("m.tgz");
    make_tar(path, shard, NSHARD, 'g', 0);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static uint8_t bytes[1 << 16];
    size_t nb = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    ck_assert(nb > 0 && nb < sizeof bytes);
    am_tar *t = am_tar_open_memory(bytes, nb, "shard in memory");
    ck_assert_msg(t != NULL, "%s", am_error());
    expect_shard(t, "memory");
    am_tar_close(t);

    path = in_tmp("u.tar");
    make_tar(path, shard, NSHARD, 0, 1);
    t = am_tar_open(path);
    ck_assert_msg(t != NULL, "%s", am_error());
    expect_shard(t, "ustar");
    am_tar_close(t);
}
END_TEST

// Without a buffer the data are skipped: the same names and sizes, and a
// member read after skipped ones has its own bytes.
START_TEST(test_tar_skip) {
    const char *path = in_tmp("k.tar");
    make_tar(path, shard, NSHARD, 0, 0);
    am_tar *t = am_tar_open(path);
    ck_assert_msg(t != NULL, "%s", am_error());
    const char *name;
    size_t n, cap = 0;
    uint8_t *buf = NULL;
    int seen = 0;
    for (size_t k = 0; k < NSHARD; k++) {
        if (shard[k].type != 'f') continue;
        const int last = k == NSHARD - 1;
        int r = am_tar_next(t, &name, last ? &buf : NULL, &n, &cap, SIZE_MAX);
        ck_assert_int_eq(r, 1);
        ck_assert_str_eq(name, shard[k].name);
        ck_assert_uint_eq(n, shard[k].size);
        if (last) check_content(buf, n, (unsigned)k, name);
        seen++;
    }
    ck_assert_int_eq(seen, 5);
    ck_assert_int_eq(am_tar_next(t, &name, NULL, &n, &cap, SIZE_MAX), 0);
    am_tar_close(t);
    free(buf);
}
END_TEST

// Three members of 1000 bytes as ustar: member k's header at 1536 k, its
// data at 1536 k + 512.
static const member three[] = {{"m0.png", 'f', 1000}, {"m1.png", 'f', 1000}, {"m2.png", 'f', 1000}};

// Reads until something other than 1; returns it, *got the members read.
static int read_all(am_tar *t, int with_data, int *got) {
    const char *name;
    uint8_t *buf = NULL;
    size_t n, cap = 0;
    int r;
    *got = 0;
    while ((r = am_tar_next(t, &name, with_data ? &buf : NULL, &n, &cap, SIZE_MAX)) == 1) {
        if (with_data) check_content(buf, n, (unsigned)*got, name);
        (*got)++;
    }
    free(buf);
    return r;
}

START_TEST(test_tar_truncated) {
    const char *path = in_tmp("t.tar");
    int got;
    // In member 2's data: members 0 and 1, then -1 naming member 2, again.
    make_tar(path, three, 3, 0, 1);
    truncate_file(path, 2 * 1536 + 512 + 300);
    am_tar *t = am_tar_open(path);
    ck_assert_msg(t != NULL, "%s", am_error());
    ck_assert_int_eq(read_all(t, 1, &got), -1);
    ck_assert_int_eq(got, 2);
    error_names(path, "member 2 ('m2.png')");
    error_names(path, "truncated");
    const char *name;
    size_t n, cap = 0;
    uint8_t *buf = NULL;
    ck_assert_int_eq(am_tar_next(t, &name, &buf, &n, &cap, SIZE_MAX), -1);
    error_names(path, "member 2");
    am_tar_close(t);
    free(buf);
    // Skipping: the cut is found when the data are passed over.
    t = am_tar_open(path);
    ck_assert_int_eq(read_all(t, 0, &got), -1);
    ck_assert_int_eq(got, 3);
    am_tar_close(t);
    // In member 2's header: -1 after 'm1.png'.
    make_tar(path, three, 3, 0, 1);
    truncate_file(path, 2 * 1536 + 100);
    t = am_tar_open(path);
    ck_assert_int_eq(read_all(t, 1, &got), -1);
    ck_assert_int_eq(got, 2);
    error_names(path, "after 'm1.png'");
    am_tar_close(t);
    // A corrupt header (its checksum no longer matches).
    make_tar(path, three, 3, 0, 1);
    FILE *f = fopen(path, "r+b");
    fseek(f, 1536 + 20, SEEK_SET);
    fputc('X', f);
    fclose(f);
    t = am_tar_open(path);
    ck_assert_int_eq(read_all(t, 1, &got), -1);
    ck_assert_int_eq(got, 1);
    error_names(path, "after 'm0.png'");
    am_tar_close(t);
}
END_TEST

// Twenty members of 20000 bytes, gzipped.
static void make_many(const char *path) {
    member m[20];
    static char names[20][24];
    for (int k = 0; k < 20; k++) {
        snprintf(names[k], sizeof names[k], "m%d.png", k);
        m[k] = (member){names[k], 'f', 20000};
    }
    make_tar(path, m, 20, 'g', 0);
}

START_TEST(test_tar_corrupt_gzip) {
    const char *path = in_tmp("c.tar.gz");
    make_many(path);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    int got;
    // Cut halfway: the members before, each with its bytes, then -1.
    truncate_file(path, st.st_size / 2);
    am_tar *t = am_tar_open(path);
    ck_assert_msg(t != NULL, "%s", am_error());
    ck_assert_int_eq(read_all(t, 1, &got), -1);
    ck_assert_msg(got >= 5 && got < 10, "%d members", got);
    error_names(path, "corrupt or truncated");
    am_tar_close(t);
    // Garbage from halfway to the end: -1 (the member where it starts may
    // have come with wrong bytes: libarchive does not check gzip's CRC, and
    // these data, hardly compressible, lie in stored deflate blocks).
    make_many(path);
    FILE *f = fopen(path, "r+b");
    fseek(f, st.st_size / 2, SEEK_SET);
    for (off_t k = st.st_size / 2; k < st.st_size; k++) fputc(0xFF, f);
    fclose(f);
    t = am_tar_open(path);
    ck_assert_msg(t != NULL, "%s", am_error());
    ck_assert_int_eq(read_all(t, 0, &got), -1);
    ck_assert_msg(got >= 5 && got <= 11, "%d members", got);
    error_names(path, "corrupt or truncated");
    am_tar_close(t);
    // The first deflate block of reserved type 3: nothing inflates.
    make_tar(path, shard, NSHARD, 'g', 0);
    f = fopen(path, "r+b");
    fseek(f, 10, SEEK_SET);
    fputc(0x07, f);  // BFINAL 1, BTYPE 11
    fclose(f);
    ck_assert_ptr_null(am_tar_open(path));
    error_names(path, "not a readable tar shard");
}
END_TEST

START_TEST(test_tar_empty_and_not_tar) {
    const char *path = in_tmp("e.tar");
    const char *name;
    size_t n, cap = 0;
    uint8_t *buf = NULL;
    make_tar(path, shard, 0, 0, 0);  // two zero blocks, padded
    am_tar *t = am_tar_open(path);
    ck_assert_msg(t != NULL, "%s", am_error());
    ck_assert_int_eq(am_tar_next(t, &name, &buf, &n, &cap, 100), 0);
    am_tar_close(t);
    write_file(path, "", 0);  // an empty file
    t = am_tar_open(path);
    ck_assert_msg(t != NULL, "%s", am_error());
    ck_assert_int_eq(am_tar_next(t, &name, &buf, &n, &cap, 100), 0);
    am_tar_close(t);
    // Only directories and links: nothing to return.
    static const member dirs[] = {{"d", 'd', 0}, {"d/l", 'l', 0}};
    make_tar(path, dirs, 2, 'g', 0);
    t = am_tar_open(path);
    ck_assert_int_eq(am_tar_next(t, &name, &buf, &n, &cap, 100), 0);
    am_tar_close(t);

    path = in_tmp("notes.txt");
    static const char text[] = "this is not a tar archive, only a few words of text\n";
    write_file(path, text, sizeof text - 1);
    ck_assert_ptr_null(am_tar_open(path));
    error_names(path, "not a readable tar shard");
    ck_assert_ptr_null(am_tar_open_memory(text, sizeof text - 1, "text.tar"));
    error_names("text.tar", "not a readable tar shard");
    path = in_tmp("missing.tar");
    ck_assert_ptr_null(am_tar_open(path));
    error_names(path, "No such file");
    ck_assert_ptr_null(am_tar_open(tmpdir));
    error_names(tmpdir, "directory");
    free(buf);
}
END_TEST

// ---- HDF5 ------------------------------------------------------------------

#define NITEMS 150

// Item k of the round trip: a length that varies (0 for one item, to be
// skipped) and a name (empty for one, UTF-8 for some).
static size_t item_len(int k) { return k == 7 ? 0 : (size_t)(k * 37 % 500) + 1 + (k == 100 ? 20000 : 0); }

static void item_name(int k, char *out, size_t cap) {
    if (k == 3) snprintf(out, cap, "%s", "");
    else if (k % 10 == 5) snprintf(out, cap, "dir/\xc3\xa9toile_%d.png", k);
    else snprintf(out, cap, "img_%05d.jpg", k);
}

static void write_items(const char *path) {
    static char names[NITEMS][64];
    const char *np[NITEMS];
    const uint8_t *dp[NITEMS];
    size_t len[NITEMS];
    for (int k = 0; k < NITEMS; k++) {
        item_name(k, names[k], sizeof names[k]);
        np[k] = names[k];
        len[k] = item_len(k);
        dp[k] = len[k] ? make_content(len[k], (unsigned)k) : NULL;
    }
    ck_assert_msg(am_h5_write(path, np, dp, len, NITEMS) == 0, "%s", am_error());
    for (int k = 0; k < NITEMS; k++) free((void *)dp[k]);
}

// Reads item k and checks it against the round trip's (max_bytes 10000:
// item 100 is over it, item 7 holds no bytes).
static void expect_item(am_h5 *h, int k, uint8_t **buf, size_t *cap) {
    char name[64], want[64];
    size_t n = 12345;
    int r = am_h5_read(h, (uint64_t)k, name, sizeof name, buf, &n, cap, 10000);
    item_name(k, want, sizeof want);
    ck_assert_str_eq(name, want);
    if (k == 7) {
        ck_assert_int_eq(r, -1);
        ck_assert_msg(strstr(am_error(), "item 7") && strstr(am_error(), "holds no bytes"), "%s", am_error());
        return;
    }
    ck_assert_msg(r == (k == 100 ? 2 : 0), "item %d: %d (%s)", k, r, am_error());
    ck_assert_uint_eq(n, item_len(k));
    if (r == 0) check_content(*buf, n, (unsigned)k, want);
}

START_TEST(test_h5_round_trip) {
    const char *path = in_tmp("r.h5");
    write_items(path);
    am_h5 *h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    ck_assert_uint_eq(am_h5_count(h), NITEMS);
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (int k = 0; k < NITEMS; k++) expect_item(h, k, &buf, &cap);
    char name[64], want[64];
    size_t n;
    // Names alone (no buffer): every item, the empty and the large too.
    for (int k = 0; k < NITEMS; k++) {
        n = 99;
        ck_assert_int_eq(am_h5_read(h, (uint64_t)k, name, sizeof name, NULL, &n, &cap, 0), 0);
        item_name(k, want, sizeof want);
        ck_assert_str_eq(name, want);
        ck_assert_uint_eq(n, 0);
    }
    expect_item(h, 100, &buf, &cap);
    ck_assert_int_eq(am_h5_read(h, NITEMS, name, sizeof name, &buf, &n, &cap, 10000), -1);
    error_names(path, "past the end");
    am_h5_close(h);
    // No temporary file is left beside it.
    ck_assert_int_eq(access(in_tmp("r.h5.tmp"), F_OK), -1);
    // An empty file.
    ck_assert_msg(am_h5_write(path, NULL, NULL, NULL, 0) == 0, "%s", am_error());
    h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    ck_assert_uint_eq(am_h5_count(h), 0);
    am_h5_close(h);
    free(buf);
}
END_TEST

// Random, backward and repeated reads give what sequential reads give.
START_TEST(test_h5_random_access) {
    const char *path = in_tmp("a.h5");
    write_items(path);
    am_h5 *h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    uint8_t *buf = NULL;
    size_t cap = 0;
    int order[NITEMS];
    for (int k = 0; k < NITEMS; k++) order[k] = k;
    uint32_t s = 12345;
    for (int k = NITEMS - 1; k > 0; k--) {
        s = s * 1664525u + 1013904223u;
        int j = (int)(s % (uint32_t)(k + 1)), x = order[k];
        order[k] = order[j];
        order[j] = x;
    }
    for (int k = 0; k < NITEMS; k++) expect_item(h, order[k], &buf, &cap);
    for (int k = NITEMS - 1; k >= 0; k--) expect_item(h, k, &buf, &cap);
    for (int k = 60; k < 70; k++) {
        expect_item(h, k, &buf, &cap);
        expect_item(h, k, &buf, &cap);
        expect_item(h, k + 64, &buf, &cap);
    }
    am_h5_close(h);
    free(buf);
}
END_TEST

// Items over max_bytes in a run: each gives 2 with its size, the others
// their bytes, whatever the window reads at once.
START_TEST(test_h5_over_limit) {
    const char *path = in_tmp("o.h5");
    enum { N = 100 };
    const char *np[N];
    const uint8_t *dp[N];
    size_t len[N];
    for (int k = 0; k < N; k++) {
        len[k] = k % 9 == 4 || k == 70 || k == 71 ? 3000 + (size_t)k : 100 + (size_t)k;
        np[k] = "x.png";
        dp[k] = make_content(len[k], (unsigned)k);
    }
    ck_assert_msg(am_h5_write(path, np, dp, len, N) == 0, "%s", am_error());
    am_h5 *h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    uint8_t *buf = NULL;
    size_t cap = 0, n;
    char name[16];
    // Pass 2 alternates the limit: a window read under 10000 holds items
    // that are over the next call's 2000.
    for (int pass = 0; pass < 3; pass++)
        for (int k = 0; k < N; k++) {
            const size_t lim = pass == 0 ? 2000 : pass == 1 || k % 2 ? 10000 : 2000;
            int r = am_h5_read(h, (uint64_t)k, name, sizeof name, &buf, &n, &cap, lim);
            ck_assert_msg(r == (len[k] > lim ? 2 : 0), "pass %d item %d: %d (%s)", pass, k, r, am_error());
            ck_assert_uint_eq(n, len[k]);
            ck_assert_str_eq(name, "x.png");
            if (r == 0) check_content(buf, n, (unsigned)k, "item");
        }
    am_h5_close(h);
    for (int k = 0; k < N; k++) free((void *)dp[k]);
    free(buf);
}
END_TEST

// 40 items of 2 MiB: more than a window's 64 MiB budget, read in order.
START_TEST(test_h5_large_items) {
    const char *path = in_tmp("l.h5");
    enum { N = 40 };
    const size_t sz = (size_t)2 << 20;
    uint8_t *big = make_content(sz + N, 1);
    const char *np[N];
    const uint8_t *dp[N];
    size_t len[N];
    for (int k = 0; k < N; k++) np[k] = "big.png", dp[k] = big + k, len[k] = sz;
    ck_assert_msg(am_h5_write(path, np, dp, len, N) == 0, "%s", am_error());
    am_h5 *h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    uint8_t *buf = NULL;
    size_t cap = 0, n;
    char name[16];
    for (int k = 0; k < N; k++) {
        ck_assert_msg(am_h5_read(h, (uint64_t)k, name, sizeof name, &buf, &n, &cap, SIZE_MAX) == 0, "%s",
                      am_error());
        ck_assert_uint_eq(n, sz);
        ck_assert_msg(!memcmp(buf, big + k, sz), "item %d differs", k);
    }
    am_h5_close(h);
    free(big);
    free(buf);
}
END_TEST

// A damaged global heap collection (its signature overwritten): the items
// it holds (HDF5 packs several into one) give -1 naming them, in order and
// alone, and every other item reads.
START_TEST(test_h5_damaged_item) {
    const char *path = in_tmp("d.h5");
    enum { N = 100, BAD = 70 };
    const char *np[N];
    const uint8_t *dp[N];
    size_t len[N];
    for (int k = 0; k < N; k++) np[k] = "d.png", len[k] = 5000, dp[k] = make_content(5000, (unsigned)k);
    ck_assert_msg(am_h5_write(path, np, dp, len, N) == 0, "%s", am_error());
    size_t fn;
    char *file = test_read_file(path, &fn);
    char *at = memmem(file, fn, dp[BAD], 64), *gcol = NULL;
    ck_assert_ptr_nonnull(at);
    for (char *p = file; p && p < at; p = memmem(p + 1, (size_t)(at - p - 1), "GCOL", 4)) gcol = p;
    ck_assert_msg(gcol && gcol != file, "no collection before item %d", BAD);
    char *next = memmem(gcol + 4, fn - (size_t)(gcol + 4 - file), "GCOL", 4);
    int bad[N], nbad = 0;
    for (int k = 0; k < N; k++) {
        char *d = memmem(file, fn, dp[k], 64);
        ck_assert_ptr_nonnull(d);
        bad[k] = d > gcol && (!next || d < next);
        nbad += bad[k];
    }
    ck_assert_msg(bad[BAD] && nbad < N / 2, "%d items in the collection", nbad);
    FILE *f = fopen(path, "r+b");
    fseek(f, gcol - file, SEEK_SET);
    fputs("XXXX", f);
    fclose(f);
    free(file);
    am_h5 *h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    uint8_t *buf = NULL;
    size_t cap = 0, n;
    char name[16], want[64];
    // Forward, backward (one at a time), and forward from 30 (windows that
    // start on good items and reach the damaged ones).
    static const int from[3] = {0, N - 1, 30}, step[3] = {1, -1, 1};
    for (int pass = 0; pass < 3; pass++)
        for (int k = from[pass]; k >= 0 && k < N; k += step[pass]) {
            int r = am_h5_read(h, (uint64_t)k, name, sizeof name, &buf, &n, &cap, SIZE_MAX);
            if (bad[k]) {
                ck_assert_int_eq(r, -1);
                snprintf(want, sizeof want, "item %d ('d.png'): cannot read its image bytes", k);
                error_names(path, want);
            } else {
                ck_assert_msg(r == 0, "item %d: %s", k, am_error());
                check_content(buf, n, (unsigned)k, "item");
            }
        }
    am_h5_close(h);
    for (int k = 0; k < N; k++) free((void *)dp[k]);
    free(buf);
}
END_TEST

// Names cut to the buffer, never inside a UTF-8 character.
START_TEST(test_h5_name_truncation) {
    const char *path = in_tmp("n.h5");
    const char *np[2] = {"abcdef\xc3\xa9gh.png", "a"};
    static const uint8_t one[1] = {42};
    const uint8_t *dp[2] = {one, one};
    size_t len[2] = {1, 1};
    ck_assert_msg(am_h5_write(path, np, dp, len, 2) == 0, "%s", am_error());
    am_h5 *h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    uint8_t *buf = NULL;
    size_t cap = 0, n;
    char name[16];
    static const struct {
        size_t cap;
        const char *want;
    } cut[] = {{8, "abcdef"}, {7, "abcdef"}, {9, "abcdef\xc3\xa9"}, {1, ""}, {16, "abcdef\xc3\xa9gh.png"}};
    for (size_t c = 0; c < sizeof cut / sizeof cut[0]; c++) {
        memset(name, 'Z', sizeof name);
        ck_assert_int_eq(am_h5_read(h, 0, name, cut[c].cap, &buf, &n, &cap, 100), 0);
        ck_assert_str_eq(name, cut[c].want);
    }
    ck_assert_int_eq(am_h5_read(h, 1, name, sizeof name, &buf, &n, &cap, 100), 0);
    ck_assert(n == 1 && buf[0] == 42);
    am_h5_close(h);
    free(buf);
}
END_TEST

// ---- files made with the HDF5 API: the layouts of other writers, and
// broken ones --------------------------------------------------------------

// A 1-D (or 2-D: dims[1] > 0) dataset of n elements of type t.
static void put(hid_t f, const char *name, hid_t t, hsize_t n, hsize_t n2, hid_t mt, const void *data, hid_t dcpl) {
    hsize_t dims[2] = {n, n2};
    hid_t s = H5Screate_simple(n2 ? 2 : 1, dims, NULL);
    hid_t d = H5Dcreate2(f, name, t, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ck_assert(s >= 0 && d >= 0);
    if (data) ck_assert(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(s);
}

// Three images as variable-length bytes: of sign `sign`, chunked and gzipped when zip.
static void put_images(hid_t f, hsize_t n, int sign, int zip) {
    hvl_t v[3];
    static uint8_t b[3][300];
    for (int k = 0; k < 3; k++) {
        for (int j = 0; j < 300; j++) b[k][j] = content((size_t)j, (unsigned)k);
        v[k] = (hvl_t){.len = 100 + 100 * (size_t)k, .p = b[k]};
    }
    hid_t ft = H5Tvlen_create(sign ? H5T_STD_I8LE : H5T_STD_U8LE);
    hid_t mt = H5Tvlen_create(sign ? H5T_NATIVE_SCHAR : H5T_NATIVE_UCHAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (zip) {
        hsize_t chunk = 2;
        H5Pset_chunk(dcpl, 1, &chunk);
        H5Pset_deflate(dcpl, 4);
    }
    put(f, "images", ft, n, 0, mt, n == 3 ? v : NULL, dcpl);
    H5Pclose(dcpl);
    H5Tclose(mt);
    H5Tclose(ft);
}

// Names as fixed-length strings of 12 bytes with padding pad.
static void put_fixed_names(hid_t f, hsize_t n, H5T_str_t pad) {
    static const char names[3][12] = {"img_0.jpg", "a_12_chars_x", "c"};
    char b[3][12];
    memcpy(b, names, sizeof b);
    if (pad == H5T_STR_SPACEPAD)
        for (int k = 0; k < 3; k++)
            for (int j = (int)strnlen(names[k], 12); j < 12; j++) b[k][j] = ' ';
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 12);
    H5Tset_strpad(t, pad);
    put(f, "filenames", t, n, 0, t, n == 3 ? b : NULL, H5P_DEFAULT);
    H5Tclose(t);
}

static hid_t create(const char *path) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(f >= 0);
    return f;
}

static void expect_three(const char *path, const char *const *names) {
    am_h5 *h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    ck_assert_uint_eq(am_h5_count(h), 3);
    uint8_t *buf = NULL;
    size_t cap = 0, n;
    char name[32];
    for (int k = 2; k >= 0; k--) {
        ck_assert_msg(am_h5_read(h, (uint64_t)k, name, sizeof name, &buf, &n, &cap, 1000) == 0, "%s", am_error());
        ck_assert_str_eq(name, names[k]);
        ck_assert_uint_eq(n, 100 + 100 * (size_t)k);
        check_content(buf, n, (unsigned)k, name);
    }
    am_h5_close(h);
    free(buf);
}

START_TEST(test_h5_fixed_names_and_other_writers) {
    static const char *const want[] = {"img_0.jpg", "a_12_chars_x", "c"};
    const char *path = in_tmp("f.h5");
    static const H5T_str_t pads[] = {H5T_STR_NULLPAD, H5T_STR_NULLTERM, H5T_STR_SPACEPAD};
    for (int p = 0; p < 3; p++) {
        hid_t f = create(path);
        put_images(f, 3, p == 1, p == 2);
        put_fixed_names(f, 3, pads[p]);
        H5Fclose(f);
        expect_three(path, want);
    }
    // Variable-length names never written: empty.
    hid_t f = create(path);
    put_images(f, 3, 0, 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    put(f, "filenames", t, 3, 0, t, NULL, H5P_DEFAULT);
    H5Tclose(t);
    H5Fclose(f);
    static const char *const empty[] = {"", "", ""};
    expect_three(path, empty);
}
END_TEST

// The fixtures written by h5py in the Python tool's two layouts: the items
// are the bytes of files in tests/data.
static void expect_fixture(const char *path, const char *const *names, const char *const *files, int nfiles,
                           int unfilled) {
    am_h5 *h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    ck_assert_uint_eq(am_h5_count(h), (uint64_t)(nfiles + unfilled));
    uint8_t *buf = NULL;
    size_t cap = 0, n;
    char name[64];
    for (int k = 0; k < nfiles; k++) {
        ck_assert_msg(am_h5_read(h, (uint64_t)k, name, sizeof name, &buf, &n, &cap, 1 << 20) == 0, "%s", am_error());
        ck_assert_str_eq(name, names[k]);
        size_t fn;
        char *want = test_read_file(files[k], &fn);
        ck_assert_uint_eq(n, fn);
        ck_assert_msg(!memcmp(buf, want, n), "item %d differs from %s", k, files[k]);
        free(want);
    }
    if (unfilled) {
        ck_assert_int_eq(am_h5_read(h, (uint64_t)nfiles, name, sizeof name, &buf, &n, &cap, 1 << 20), -1);
        error_names(path, "holds no bytes");
        ck_assert_str_eq(name, "");
    }
    am_h5_close(h);
    free(buf);
}

START_TEST(test_h5_h5py_fixtures) {
    static const char *const files[] = {"data/png_gray16.png", "data/png_palette_trns.png", "data/png_rgba.png",
                                        "data/gray_q75.jpg"};
    static const char *const vnames[] = {"png_gray16.png", "sub/png_palette_trns.png", "\303\274n\303\257code_rgba.png",
                                         "gray_q75.jpg"};
    expect_fixture("data/h5py_prepare_datasets.h5", vnames, files, 4, 1);
    static const char *const snames[] = {"png_gray16.png", "sub/png_palette_trns.png", "png_rgba.png", "gray_q75.jpg"};
    expect_fixture("data/h5py_fixed_names.h5", snames, files, 4, 0);
}
END_TEST

static void expect_open_fails(const char *path, const char *what) {
    ck_assert_ptr_null(am_h5_open(path));
    error_names(path, what);
}

START_TEST(test_h5_bad_layouts) {
    const char *path = in_tmp("b.h5");
    hid_t f = create(path);  // no images
    put_fixed_names(f, 3, H5T_STR_NULLPAD);
    H5Fclose(f);
    expect_open_fails(path, "no dataset 'images' (its root holds 'filenames')");

    f = create(path);  // no filenames
    put_images(f, 3, 0, 0);
    H5Fclose(f);
    expect_open_fails(path, "no dataset 'filenames'");

    f = create(path);  // images as floats
    float x[3] = {1, 2, 3};
    put(f, "images", H5T_IEEE_F32LE, 3, 0, H5T_NATIVE_FLOAT, x, H5P_DEFAULT);
    put_fixed_names(f, 3, H5T_STR_NULLPAD);
    H5Fclose(f);
    expect_open_fails(path, "'images' holds 32-bit floats");

    f = create(path);  // images as variable-length sequences of int32
    hid_t vt = H5Tvlen_create(H5T_STD_I32LE);
    put(f, "images", vt, 3, 0, vt, NULL, H5P_DEFAULT);
    H5Tclose(vt);
    put_fixed_names(f, 3, H5T_STR_NULLPAD);
    H5Fclose(f);
    expect_open_fails(path, "variable-length sequences of signed 32-bit integers");

    f = create(path);  // filenames as integers
    put_images(f, 3, 0, 0);
    int32_t ix[3] = {0};
    put(f, "filenames", H5T_STD_I32LE, 3, 0, H5T_NATIVE_INT32, ix, H5P_DEFAULT);
    H5Fclose(f);
    expect_open_fails(path, "'filenames' holds signed 32-bit integers");

    f = create(path);  // lengths differ
    put_images(f, 3, 0, 0);
    put_fixed_names(f, 2, H5T_STR_NULLPAD);
    H5Fclose(f);
    expect_open_fails(path, "'images' has 3 elements but 'filenames' 2");

    f = create(path);  // 2-D images
    vt = H5Tvlen_create(H5T_STD_U8LE);
    put(f, "images", vt, 3, 2, vt, NULL, H5P_DEFAULT);
    H5Tclose(vt);
    put_fixed_names(f, 3, H5T_STR_NULLPAD);
    H5Fclose(f);
    expect_open_fails(path, "'images' has 2 dimensions");

    f = create(path);  // images is a group
    H5Gclose(H5Gcreate2(f, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    put_fixed_names(f, 3, H5T_STR_NULLPAD);
    H5Fclose(f);
    expect_open_fails(path, "'images' is not a dataset");

    path = in_tmp("text.h5");
    write_file(path, "not an HDF5 file at all, just text\n", 35);
    expect_open_fails(path, "is not an HDF5 file");
    path = in_tmp("trunc.h5");
    write_items(path);
    truncate_file(path, 600);
    expect_open_fails(path, "truncated or damaged");
    expect_open_fails(in_tmp("missing.h5"), "No such file");
    expect_open_fails(tmpdir, "not a regular file");
}
END_TEST

// ---- dense HDF5: arrays of pixels ---------------------------------------------

// The values tests/ref/make_h5_fixture.py wrote (NAN for the bad pixel).
static float u8_value(int k, int y, int x, int c) { (void)c; return (float)(7 + 60 * k + 4 * y + x); }
static float u16_value(int k, int y, int x, int c) { (void)c; return (float)(30000 + 9000 * k + 100 * y + 10 * x); }
static float f32_value(int k, int y, int x, int c) {
    return k == 1 && y == 2 && x == 4 && c == 1 ? NAN : 10.0f * k + y + 0.25f * x + 0.125f * c - 3;
}

typedef float (*value_fn)(int k, int y, int x, int c);

// Item k of h: its name, its pixels (h, w, bands) against value().
static void expect_dense_item(am_h5 *h, int k, const char *want_name, value_fn value) {
    int w, hh, bands;
    ck_assert_int_eq(am_h5_dense(h, &w, &hh, &bands, NULL), 1);
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    char name[64];
    ck_assert_msg(am_h5_read(h, (uint64_t)k, name, sizeof name, &buf, &n, &cap, 1 << 20) == 0, "%s", am_error());
    ck_assert_str_eq(name, want_name);
    ck_assert_uint_eq(n, sizeof(float) * (size_t)w * hh * bands);
    const float *px = (const float *)buf;
    for (int y = 0; y < hh; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < bands; c++) {
                float got = px[((size_t)y * w + x) * bands + c], want = value(k, y, x, c);
                ck_assert_msg(isnan(want) ? isnan(got) : got == want, "item %d (%d, %d, %d): %g, expected %g", k, y,
                              x, c, got, want);
            }
    free(buf);
}

static am_h5 *open_dense(const char *path, uint64_t n, int w, int hh, int bands, am_sample_type type) {
    am_h5 *h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    ck_assert_uint_eq(am_h5_count(h), n);
    int gw, gh, gb;
    am_sample_type gt;
    ck_assert_int_eq(am_h5_dense(h, &gw, &gh, &gb, &gt), 1);
    ck_assert_msg(gw == w && gh == hh && gb == bands && gt == type, "%s: %d x %d x %d type %d", path, gw, gh, gb,
                  (int)gt);
    return h;
}

START_TEST(test_h5_dense_fixtures) {
    am_h5 *h = open_dense("data/h5_dense_u8.h5", 3, 4, 5, 1, AM_SAMPLE_U8);
    static const char *const u8_names[] = {"a.png", "sub/b.png", "c.png"};
    for (int k = 0; k < 3; k++) expect_dense_item(h, k, u8_names[k], u8_value);  // in order
    for (int k = 2; k >= 0; k--) expect_dense_item(h, k, u8_names[k], u8_value);  // one by one
    // Over the limit: its size, nothing read; names alone.
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    char name[64];
    ck_assert_int_eq(am_h5_read(h, 1, name, sizeof name, &buf, &n, &cap, 79), 2);
    ck_assert_uint_eq(n, 80);
    ck_assert_int_eq(am_h5_read(h, 2, name, sizeof name, NULL, &n, &cap, 0), 0);
    ck_assert_str_eq(name, "c.png");
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(am_h5_read(h, 3, name, sizeof name, &buf, &n, &cap, 1000), -1);
    error_names("data/h5_dense_u8.h5", "past the end");
    free(buf);
    am_h5_close(h);

    h = open_dense("data/h5_dense_u16.h5", 3, 6, 4, 1, AM_SAMPLE_U16);  // no filenames: BASENAME#K
    static const char *const u16_names[] = {"h5_dense_u16.h5#0", "h5_dense_u16.h5#1", "h5_dense_u16.h5#2"};
    for (int k = 0; k < 3; k++) expect_dense_item(h, k, u16_names[k], u16_value);
    am_h5_close(h);

    h = open_dense("data/h5_dense_f32.h5", 2, 5, 3, 2, AM_SAMPLE_FLOAT);  // chunked, gzip, NaN, fixed-length names
    expect_dense_item(h, 1, "f1.fits", f32_value);
    expect_dense_item(h, 0, "f0.fits", f32_value);
    am_h5_close(h);

    expect_open_fails("data/h5_dense_i8.h5", "'images' holds signed 8-bit integers; dense images must be uint8");
    expect_open_fails("data/h5_dense_rank2.h5", "'images' holds unsigned 8-bit integers in 2 dimensions");
}
END_TEST

// Pixel (y, x, c) of image k in the files written below: scale * v + offset.
static double big_value(int k, int y, int x, int c, double scale, double offset) {
    return scale * ((k * 7 + y * 3 + x * 5 + c) % 200) + offset;
}

// The file types of the files below.
enum { FT_U8, FT_U16BE, FT_I16LE, FT_I16BE, FT_I32, FT_F32, FT_F64 };
static hid_t ftype(int t) {
    switch (t) {
    case FT_U8: return H5T_STD_U8LE;
    case FT_U16BE: return H5T_STD_U16BE;
    case FT_I16LE: return H5T_STD_I16LE;
    case FT_I16BE: return H5T_STD_I16BE;
    case FT_I32: return H5T_STD_I32LE;
    case FT_F32: return H5T_IEEE_F32LE;
    default: return H5T_IEEE_F64LE;
    }
}

// A dense `images` (n, H, W[, C]) of file type t, its values big_value(...,
// scale, offset) (written when there are few), chunked by `chunk` images
// (0: contiguous).
static void put_dense(hid_t f, int t, int rank, hsize_t n, hsize_t H, hsize_t W, hsize_t C, hsize_t chunk,
                      double scale, double offset) {
    hsize_t dims[5] = {n, H, W, C, 2};
    const size_t total = rank <= 4 && n * H * W * C < 1000000 ? (size_t)(n * H * W * C) : 0;
    double *v = malloc(sizeof(double) * (total ? total : 1));
    for (size_t i = 0; i < total; i++) {
        size_t c = i % C, x = i / C % W, y = i / C / W % H, k = i / C / W / H;
        v[i] = big_value((int)k, (int)y, (int)x, (int)c, scale, offset);
    }
    hid_t s = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunk) {
        hsize_t cd[5] = {chunk, H, W, C, 2};
        ck_assert(H5Pset_chunk(dcpl, rank, cd) >= 0 && H5Pset_deflate(dcpl, 1) >= 0);
    }
    hid_t d = H5Dcreate2(f, "images", ftype(t), s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ck_assert(s >= 0 && d >= 0);
    if (total) ck_assert(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
    free(v);
}

// int16 big-endian and float64 files of 150 images (three read blocks and a
// bit), chunked or not: every image right read in order, backwards and
// in a stride, so that a wrong window or offset shows.
START_TEST(test_h5_dense_many) {
    const char *path = in_tmp("many.h5");
    static const struct { int ft, rank; hsize_t C, chunk; am_sample_type t; double scale, offset; } cases[] = {
        {FT_I16BE, 4, 3, 0, AM_SAMPLE_INT, 100, -9000},   {FT_F64, 3, 1, 7, AM_SAMPLE_FLOAT, 0.25, -20.5},
        {FT_U16BE, 4, 2, 64, AM_SAMPLE_U16, 300, 5535},   {FT_U8, 4, 16, 0, AM_SAMPLE_U8, 1, 50}};
    const int n = 150, H = 3, W = 2;
    for (int c = 0; c < 4; c++) {
        hid_t f = create(path);
        put_dense(f, cases[c].ft, cases[c].rank, (hsize_t)n, H, W, cases[c].C, cases[c].chunk, cases[c].scale,
                  cases[c].offset);
        H5Fclose(f);
        am_h5 *h = open_dense(path, (uint64_t)n, W, H, (int)cases[c].C, cases[c].t);
        uint8_t *buf = NULL;
        size_t got = 0, cap = 0;
        char name[32], want[32];
        const int order[3][2] = {{0, 1}, {n - 1, -1}, {3, 37}};
        for (int o = 0; o < 3; o++)
            for (int k = order[o][0], m = 0; k >= 0 && k < n && m < n; k = (k + order[o][1] + n) % n, m++) {
                ck_assert_msg(am_h5_read(h, (uint64_t)k, name, sizeof name, &buf, &got, &cap, SIZE_MAX) == 0, "%s",
                              am_error());
                snprintf(want, sizeof want, "many.h5#%d", k);
                ck_assert_str_eq(name, want);
                const float *px = (const float *)buf;
                for (int i = 0; i < H * W * (int)cases[c].C; i++) {
                    int ch = i % (int)cases[c].C, x = i / (int)cases[c].C % W, y = i / (int)cases[c].C / W;
                    double v = big_value(k, y, x, ch, cases[c].scale, cases[c].offset);
                    ck_assert_msg(px[i] == (float)v, "case %d item %d value %d: %g, expected %g", c, k, i, px[i], v);
                }
            }
        free(buf);
        am_h5_close(h);
    }
}
END_TEST

START_TEST(test_h5_dense_refused) {
    const char *path = in_tmp("bad.h5");
    static const struct { int ft, rank; hsize_t H, W, C; const char *what; } bad[] = {
        {FT_I32, 3, 4, 4, 1, "holds signed 32-bit integers; dense images must be"},
        {FT_F32, 4, 4, 4, 17, "17 bands, over 16"},
        {FT_F32, 3, 0, 4, 1, "have no pixels"},
        {FT_U8, 5, 4, 4, 3, "in 5 dimensions"},
        {FT_U8, 4, 1 << 15, 1 << 14, 1, "over 268435456: not image cutouts"}};
    for (int b = 0; b < 5; b++) {
        hid_t f = create(path);
        put_dense(f, bad[b].ft, bad[b].rank, 2, bad[b].H, bad[b].W, bad[b].C, 0, 1, 0);
        H5Fclose(f);
        expect_open_fails(path, bad[b].what);
    }
    // `filenames`, when there, as an encoded file's: strings, as long.
    hid_t f = create(path);
    put_dense(f, FT_U8, 3, 3, 2, 2, 1, 0, 1, 0);
    put_fixed_names(f, 2, H5T_STR_NULLPAD);
    H5Fclose(f);
    expect_open_fails(path, "'images' has 3 elements but 'filenames' 2");
    f = create(path);
    put_dense(f, FT_U8, 3, 3, 2, 2, 1, 0, 1, 0);
    int32_t ix[3] = {0};
    put(f, "filenames", H5T_STD_I32LE, 3, 0, H5T_NATIVE_INT32, ix, H5P_DEFAULT);
    H5Fclose(f);
    expect_open_fails(path, "'filenames' holds signed 32-bit integers");
    // Fixed-length names of a dense file.
    f = create(path);
    put_dense(f, FT_U8, 3, 3, 2, 2, 1, 0, 1, 0);
    put_fixed_names(f, 3, H5T_STR_SPACEPAD);
    H5Fclose(f);
    am_h5 *h = open_dense(path, 3, 2, 2, 1, AM_SAMPLE_U8);
    char name[32];
    size_t n;
    ck_assert_int_eq(am_h5_read(h, 1, name, sizeof name, NULL, &n, NULL, 0), 0);
    ck_assert_str_eq(name, "a_12_chars_x");
    am_h5_close(h);
}
END_TEST

// ---- members by name: FILE#K ---------------------------------------------------

static void same_pixels(const uint8_t *a, const uint8_t *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) ck_assert_msg(a[i] == b[i], "%s: byte %zu is %u, expected %u", what, i, a[i], b[i]);
}

// The fixtures' images through am_member_load: a dense element as
// am_input_pixels makes it from the values h5py wrote, an encoded element
// and a tar member as their files are, a path as am_input_load reads it.
START_TEST(test_member_load) {
    am_preprocess pre;
    am_preprocess_defaults(&pre, 6, 3);
    uint8_t got[6 * 6 * 3], want[6 * 6 * 3];
    const size_t img = sizeof got;
    for (int k = 0; k < 3; k++) {
        char src[64];
        snprintf(src, sizeof src, "data/h5_dense_u16.h5#%d", k);
        float *px = malloc(sizeof(float) * 24);
        for (int i = 0; i < 24; i++) px[i] = u16_value(k, i / 6, i % 6, 0);
        ck_assert(am_input_pixels(want, px, 6, 4, 1, AM_SAMPLE_U16, src, &pre) == 0);
        ck_assert_msg(am_member_load(got, src, &pre) == 0, "%s", am_error());
        same_pixels(got, want, img, src);
    }
    pre.stretch.kind = AM_STRETCH_ASINH;  // floats with a NaN, 2 bands into 1 channel
    pre.channels = 1;
    ck_assert(am_combine_parse(&pre, "0.5,0.5") == 0);
    float *px = malloc(sizeof(float) * 30);
    for (int i = 0; i < 30; i++) px[i] = f32_value(1, i / 10, i / 2 % 5, i % 2);
    ck_assert(am_input_pixels(want, px, 5, 3, 2, AM_SAMPLE_FLOAT, "f", &pre) == 0);
    ck_assert_msg(am_member_load(got, "data/h5_dense_f32.h5#1", &pre) == 0, "%s", am_error());
    same_pixels(got, want, 36, "data/h5_dense_f32.h5#1");

    am_preprocess_defaults(&pre, 6, 3);
    ck_assert(am_input_load(want, "data/png_rgba.png", &pre) == 0);
    ck_assert_msg(am_member_load(got, "data/h5py_fixed_names.h5#2", &pre) == 0, "%s", am_error());
    same_pixels(got, want, img, "data/h5py_fixed_names.h5#2");
    ck_assert_msg(am_member_load(got, "data/h5py_prepare_datasets.h5#2", &pre) == 0, "%s", am_error());
    same_pixels(got, want, img, "data/h5py_prepare_datasets.h5#2");
    ck_assert_msg(am_member_load(got, "data/png_rgba.png", &pre) == 0, "%s", am_error());
    same_pixels(got, want, img, "data/png_rgba.png");

    // A tar of two files: member 1.
    const char *tar = in_tmp("two.tar");
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    ck_assert(archive_write_open_filename(a, tar) == ARCHIVE_OK);
    const char *files[2] = {"data/gray_q75.jpg", "data/png_rgba.png"};
    for (int i = 0; i < 2; i++) {
        size_t n;
        char *b = test_read_file(files[i], &n);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, files[i] + 5);
        archive_entry_set_size(e, (la_int64_t)n);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        ck_assert(archive_write_header(a, e) == ARCHIVE_OK && archive_write_data(a, b, n) == (la_ssize_t)n);
        archive_entry_free(e);
        free(b);
    }
    archive_write_close(a);
    archive_write_free(a);
    char src[300];
    snprintf(src, sizeof src, "%s#1", tar);
    ck_assert_msg(am_member_load(got, src, &pre) == 0, "%s", am_error());
    same_pixels(got, want, img, src);

    // What cannot be read says so, naming it.
    snprintf(src, sizeof src, "%s#2", tar);
    ck_assert_int_eq(am_member_load(got, src, &pre), -1);
    error_names(tar, "has no member 2");
    ck_assert_int_eq(am_member_load(got, "data/h5_dense_u8.h5#3", &pre), -1);
    error_names("data/h5_dense_u8.h5", "item 3 is past the end");
    ck_assert_int_eq(am_member_load(got, "data/no_such.h5#0", &pre), -1);
    error_names("data/no_such.h5", "cannot find");
    ck_assert_int_eq(am_member_load(got, "data/h5_dense_u8.h5#x", &pre), -1);  // not ARCHIVE#K: a path
    error_names("data/h5_dense_u8.h5#x", "cannot open");
    ck_assert_int_eq(am_member_load(got, "data/h5_dense_i8.h5#0", &pre), -1);
    error_names("data/h5_dense_i8.h5", "signed 8-bit");
    am_member_close_all();
}
END_TEST

// The pool of open handles: a file written again (a new file renamed over
// it, as am_h5_write and h5py's users do) is read anew; loads on many
// threads at once agree with one thread's.
START_TEST(test_member_pool) {
    const char *path = in_tmp("p.h5"), *tmp = in_tmp("p.h5.tmp");
    char src[300];
    snprintf(src, sizeof src, "%s#5", path);
    am_preprocess pre;
    am_preprocess_defaults(&pre, 2, 3);
    uint8_t first[12], second[12];
    for (int round = 0; round < 2; round++) {
        hid_t f = create(tmp);
        put_dense(f, round ? FT_I16LE : FT_U8, 4, 10, 2, 2, 3, 0, 1, round ? -100 : 0);
        H5Fclose(f);
        ck_assert_int_eq(rename(tmp, path), 0);
        ck_assert_msg(am_member_load(round ? second : first, src, &pre) == 0, "%s", am_error());
    }
    // uint8 is taken as it is, int16 (the same values less 100) min-max: they differ.
    ck_assert_msg(memcmp(first, second, sizeof first), "the second file read as the first");
    float *px = malloc(sizeof(float) * 12);
    for (int i = 0; i < 12; i++) px[i] = (float)big_value(5, i / 6, i / 3 % 2, i % 3, 1, -100);
    uint8_t want[12];
    ck_assert(am_input_pixels(want, px, 2, 2, 3, AM_SAMPLE_INT, "x", &pre) == 0);
    same_pixels(second, want, 12, src);
    uint8_t all[10][64][12];
    #pragma omp parallel for num_threads(8) schedule(dynamic)
    for (int j = 0; j < 64 * 10; j++) {
        char s[300];
        snprintf(s, sizeof s, "%s#%d", path, j % 10);
        if (am_member_load(all[j % 10][j / 10], s, &pre)) abort();
    }
    for (int k = 0; k < 10; k++)
        for (int r = 1; r < 64; r++) same_pixels(all[k][r], all[k][0], 12, "a load on another thread");
    am_member_close_all();
}
END_TEST

START_TEST(test_h5_write_errors) {
    const char *path = in_tmp("no/such/dir/x.h5");
    const char *np[1] = {"a"};
    static const uint8_t one[1] = {1};
    const uint8_t *dp[1] = {one};
    size_t len[1] = {1};
    ck_assert_int_eq(am_h5_write(path, np, dp, len, 1), -1);
    error_names(path, "cannot create");
    // A failed write leaves the previous file.
    path = in_tmp("keep.h5");
    write_items(path);
    const char *bad[1] = {NULL};
    ck_assert_int_eq(am_h5_write(path, bad, dp, len, 1), -1);
    error_names(path, "item 0 has no name");
    am_h5 *h = am_h5_open(path);
    ck_assert_msg(h != NULL, "%s", am_error());
    ck_assert_uint_eq(am_h5_count(h), NITEMS);
    am_h5_close(h);
}
END_TEST

Suite *suite_containers(void) {
    Suite *s = suite_create("containers");
    TCase *tc = tcase_create("tar");
    tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
    tcase_add_test(tc, test_tar_members_in_order);
    tcase_add_test(tc, test_tar_memory_and_raw_names);
    tcase_add_test(tc, test_tar_skip);
    tcase_add_test(tc, test_tar_truncated);
    tcase_add_test(tc, test_tar_corrupt_gzip);
    tcase_add_test(tc, test_tar_empty_and_not_tar);
    suite_add_tcase(s, tc);
    tc = tcase_create("h5");
    tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_h5_round_trip);
    tcase_add_test(tc, test_h5_random_access);
    tcase_add_test(tc, test_h5_over_limit);
    tcase_add_test(tc, test_h5_large_items);
    tcase_add_test(tc, test_h5_damaged_item);
    tcase_add_test(tc, test_h5_name_truncation);
    tcase_add_test(tc, test_h5_fixed_names_and_other_writers);
    tcase_add_test(tc, test_h5_h5py_fixtures);
    tcase_add_test(tc, test_h5_bad_layouts);
    tcase_add_test(tc, test_h5_write_errors);
    tcase_add_test(tc, test_h5_dense_fixtures);
    tcase_add_test(tc, test_h5_dense_many);
    tcase_add_test(tc, test_h5_dense_refused);
    tcase_add_test(tc, test_member_load);
    tcase_add_test(tc, test_member_pool);
    suite_add_tcase(s, tc);
    return s;
}
