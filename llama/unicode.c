/* unicode.c - UTF-8 decoding and character classes for the tokenizers. */
#include <stdlib.h>
#include <string.h>

#include "unicode.h"

int iris_utf8_next(const char *str, size_t n, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 1) { *cp = c; return 1; }
    if (len == 0 || (size_t)len > n) goto bad;
    uint32_t v = c & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) goto bad;
        v = (v << 6) | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates and values past U+10FFFF are not characters */
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) goto bad;
    *cp = v;
    return len;
bad:
    *cp = 0xdc00 + c;
    return 1;
}

int iris_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = 0xc0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3f); return 2; }
    if (cp < 0x10000) {
        o[0] = 0xe0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3f); o[2] = 0x80 | (cp & 0x3f);
        return 3;
    }
    o[0] = 0xf0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3f);
    o[2] = 0x80 | ((cp >> 6) & 0x3f); o[3] = 0x80 | (cp & 0x3f);
    return 4;
}

static int in_ranges(const uint32_t (*r)[2], int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid - 1;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int iris_uc_class(uint32_t cp) {
    if (cp < 0x80) { /* fast path for ASCII */
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return IRIS_UC_LETTER;
        if (cp >= '0' && cp <= '9') return IRIS_UC_NUMBER;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return IRIS_UC_SPACE;
        return IRIS_UC_OTHER;
    }
    if (in_ranges(iris_uc_letter, iris_uc_letter_n, cp)) return IRIS_UC_LETTER;
    if (in_ranges(iris_uc_number, iris_uc_number_n, cp)) return IRIS_UC_NUMBER;
    if (in_ranges(iris_uc_space, iris_uc_space_n, cp)) return IRIS_UC_SPACE;
    return IRIS_UC_OTHER;
}

/* ---- Python's categories, str.lower() and NFC, for CLIP's text cleanup ---- */

int iris_uc_is_control(uint32_t cp) {
    if (cp < 0x80) return cp < 0x20 || cp == 0x7f;
    return in_ranges(iris_uc_control, iris_uc_control_n, cp);
}

int iris_uc_is_zs(uint32_t cp) { return cp == ' ' || (cp >= 0x80 && in_ranges(iris_uc_zs, iris_uc_zs_n, cp)); }

int iris_uc_digit(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9' ? (int)(cp - '0') : -1;
    int lo = 0, hi = iris_uc_digit_ranges_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < iris_uc_digit_ranges[mid][0]) hi = mid - 1;
        else if (cp > iris_uc_digit_ranges[mid][1]) lo = mid + 1;
        else return (int)((cp - iris_uc_digit_ranges[mid][0]) % 10); /* the ranges are whole 0..9 blocks */
    }
    return -1;
}

/* index of the row whose [lo, hi] holds cp in a table sorted by lo, or -1 */
static int find_range(const void *table, int n, int width, uint32_t cp) {
    const uint32_t *t = table;
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const uint32_t *r = t + (size_t)mid * (size_t)width;
        if (cp < r[0]) hi = mid - 1;
        else if (cp > r[1]) lo = mid + 1;
        else return mid;
    }
    return -1;
}

static uint32_t lower1(uint32_t cp) {
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    int i = find_range(iris_uc_lower_map, iris_uc_lower_map_n, 4, cp);
    if (i < 0) return cp;
    const int32_t *r = iris_uc_lower_map[i];
    return (cp - (uint32_t)r[0]) % (uint32_t)r[2] ? cp : (uint32_t)((int32_t)cp + r[3]);
}

static int ignorable(uint32_t cp) { return in_ranges(iris_uc_ignorable, iris_uc_ignorable_n, cp); }
static int cased(uint32_t cp) { return in_ranges(iris_uc_cased, iris_uc_cased_n, cp); }

/* Python: a capital sigma after a cased letter and not before one (case-ignorable ones skipped) is final */
static int final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && ignorable(s[j - 1])) j--;
    if (j == 0 || !cased(s[j - 1])) return 0;
    j = i + 1;
    while (j < n && ignorable(s[j])) j++;
    return j == n || !cased(s[j]);
}

size_t iris_uc_lower(const uint32_t *s, size_t n, uint32_t *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x130) { /* the one lower case of two characters */
            out[o++] = 'i';
            out[o++] = 0x307;
        } else if (c == 0x3a3) {
            out[o++] = final_sigma(s, n, i) ? 0x3c2 : 0x3c3;
        } else {
            out[o++] = lower1(c);
        }
    }
    return o;
}

/* Hangul syllables decompose and compose by arithmetic, not by table */
enum { H_S = 0xac00, H_L = 0x1100, H_V = 0x1161, H_T = 0x11a7, H_NL = 19, H_NV = 21, H_NT = 28,
       H_NS = H_NL * H_NV * H_NT };

static int ccc(uint32_t cp) {
    if (cp < 0x300) return 0;
    int i = find_range(iris_uc_ccc, iris_uc_ccc_n, 3, cp);
    return i < 0 ? 0 : (int)iris_uc_ccc[i][2];
}

/* full canonical decomposition of cp into out (at most 4 code points) */
static size_t decompose(uint32_t cp, uint32_t *out) {
    if (cp >= H_S && cp < H_S + H_NS) {
        uint32_t s = cp - H_S;
        out[0] = H_L + s / (H_NV * H_NT);
        out[1] = H_V + s % (H_NV * H_NT) / H_NT;
        if (s % H_NT == 0) return 2;
        out[2] = H_T + s % H_NT;
        return 3;
    }
    int lo = 0, hi = cp < 0xc0 ? -1 : iris_uc_decomp_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < iris_uc_decomp[mid][0]) hi = mid - 1;
        else if (cp > iris_uc_decomp[mid][0]) lo = mid + 1;
        else {
            size_t k = decompose(iris_uc_decomp[mid][1], out);
            if (iris_uc_decomp[mid][2]) k += decompose(iris_uc_decomp[mid][2], out + k);
            return k;
        }
    }
    out[0] = cp;
    return 1;
}

/* the primary composite of (a, b), or 0 */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= H_L && a < H_L + H_NL && b >= H_V && b < H_V + H_NV)
        return H_S + ((a - H_L) * H_NV + (b - H_V)) * H_NT;
    if (a >= H_S && a < H_S + H_NS && (a - H_S) % H_NT == 0 && b > H_T && b < H_T + H_NT) return a + (b - H_T);
    int lo = 0, hi = iris_uc_compose_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const uint32_t *r = iris_uc_compose[mid];
        if (a < r[0] || (a == r[0] && b < r[1])) hi = mid - 1;
        else if (a > r[0] || b > r[1]) lo = mid + 1;
        else return r[2];
    }
    return 0;
}

/* A run of non-starters, each packed as class << 21 | code point, stably sorted by class:
   insertion for short runs, counting (linear, so no input is slow) for long ones. */
static void sort_marks(uint32_t *a, size_t n) {
    uint32_t *tmp = n > 32 ? malloc(n * sizeof *tmp) : NULL;
    if (!tmp) {
        for (size_t i = 1; i < n; i++) {
            uint32_t c = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1] >> 21 > c >> 21) a[j] = a[j - 1], j--;
            a[j] = c;
        }
        return;
    }
    size_t start[257] = {0};
    for (size_t i = 0; i < n; i++) start[(a[i] >> 21) + 1]++;
    for (int k = 0; k < 256; k++) start[k + 1] += start[k];
    for (size_t i = 0; i < n; i++) tmp[start[a[i] >> 21]++] = a[i];
    memcpy(a, tmp, n * sizeof *a);
    free(tmp);
}

size_t iris_uc_nfc(const uint32_t *s, size_t n, uint32_t *out) {
    /* 1. full canonical decomposition, each code point packed with its combining class */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = s[i] < 0xc0 ? (out[m] = s[i], 1) : decompose(s[i], out + m);
        for (; k; k--, m++) out[m] |= (uint32_t)ccc(out[m]) << 21;
    }
    /* 2. canonical order: each run of non-starters sorted by class */
    for (size_t i = 0; i < m;) {
        if (!(out[i] >> 21)) { i++; continue; }
        size_t e = i;
        while (e < m && out[e] >> 21) e++;
        if (e - i > 1) sort_marks(out + i, e - i);
        i = e;
    }
    /* 3. compose each character with the last starter unless a character between blocks it
          (after step 2 the last one between has the highest class); out[0..o) is unpacked */
    size_t o = 0, starter = 0;
    int have_starter = 0, last_cc = 0;
    for (size_t i = 0; i < m; i++) {
        uint32_t c = out[i] & 0x1fffff;
        int cc = (int)(out[i] >> 21);
        if (have_starter && (o - 1 == starter || (last_cc && last_cc < cc))) {
            uint32_t p = compose(out[starter], c);
            if (p) { out[starter] = p; continue; }
        }
        if (!cc) starter = o, have_starter = 1;
        last_cc = cc;
        out[o++] = c;
    }
    return o;
}
