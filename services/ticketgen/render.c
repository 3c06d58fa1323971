// SPDX-License-Identifier: Apache-2.0
// Ticket PDFs with libharu and libqrencode. Speed comes from three measured choices (bench/
// tickets.sh; perf on libharu 2.3.0):
//  - one libharu document per renderer (per thread), reset with HPDF_NewDoc for each ticket, so the
//    TrueType fonts are parsed once, not per PDF;
//  - the fonts are embedded from a copy without the 'post' glyph-name table (60 KB of DejaVu that
//    a PDF never needs), made once per process in memory (memfd): deflating the embedded font was
//    most of the cost of a ticket;
//  - text that fits a Windows single-byte code page (CP1252, 1250, 1251, 1253, 1254, 1257) uses a
//    simple TrueType font in that encoding; only other text (CJK, ...) takes the UTF-8 CID font,
//    whose set-up walks all 65,536 code points (about 10 ms per font and document).
// Any UTF-8 text renders: characters the font lacks show as its .notdef box but stay extractable
// (the CID font carries a ToUnicode map).
#include <errno.h>
#include <fcntl.h>
#include <hpdf.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "ticketgen.h"

#define FONT_FILE_MAX  (32 * 1024 * 1024)
#define FONT_TABLES    64
#define TEXT_CP_MAX    (TG_TEXT_MAX_CP + 64) /* a composed line: a few fields and separators */
#define LINE_BYTES_MAX (4 * TEXT_CP_MAX + 8)
#define N_CODEPAGES    6
#define MARGIN_PT      48.0f
#define QR_SIZE_PT     200.0f
#define QR_QUIET       4 /* modules of white around the symbol (ISO/IEC 18004) */

static const char *const codepages[N_CODEPAGES] = {"CP1252", "CP1250", "CP1251",
                                                   "CP1253", "CP1254", "CP1257"};

/* The prepared fonts: paths libharu can open (a memfd of the trimmed copy, or the original). */
static struct {
    char regular[64 + 1024], bold[64 + 1024];
    int fds[2];
} fonts = {.fds = {-1, -1}};

/* ---- the trimmed TrueType copy */

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void wr16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static uint32_t table_sum(const unsigned char *p, size_t len) {
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i += 4) {
        unsigned char w[4] = {0, 0, 0, 0};
        memcpy(w, p + i, len - i < 4 ? len - i : 4);
        sum += rd32(w);
    }
    return sum;
}

/* The tables libharu embeds (hpdf_fontdef_tt.c); the rest only costs memory. */
static bool kept_table(const unsigned char *tag) {
    static const char *const keep[] = {"OS/2", "cmap", "cvt ", "fpgm", "glyf", "head", "hhea",
                                       "hmtx", "loca", "maxp", "name", "post", "prep"};
    for (size_t i = 0; i < BX_ARRAY_LEN(keep); i++) {
        if (memcmp(tag, keep[i], 4) == 0) {
            return true;
        }
    }
    return false;
}

/* A copy of the TrueType font in (len bytes) with only the kept tables and a version-3 'post'
 * (no glyph names); malloc'd into *out. False when the file is not a TrueType font we read. */
static bool trim_font(const unsigned char *in, size_t len, unsigned char **out, size_t *out_len) {
    if (len < 12 || (rd32(in) != 0x00010000 && memcmp(in, "true", 4) != 0)) {
        return false;
    }
    size_t n = (size_t)in[4] << 8 | in[5];
    if (n == 0 || n > FONT_TABLES || 12 + 16 * n > len) {
        return false;
    }
    const unsigned char *rec[FONT_TABLES];
    size_t keep = 0, body = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *r = in + 12 + 16 * i;
        size_t off = rd32(r + 8), tlen = rd32(r + 12);
        if (off > len || tlen > len - off) {
            return false;
        }
        if (kept_table(r)) {
            rec[keep++] = r;
            body += (memcmp(r, "post", 4) == 0 && tlen >= 32 ? 32 : tlen) + 3;
        }
    }
    size_t header = 12 + 16 * keep;
    unsigned char *o = calloc(1, header + body);
    if (o == NULL) {
        return false;
    }
    memcpy(o, in, 4);
    unsigned pow2 = 1, log2 = 0;
    while (pow2 * 2 <= keep) {
        pow2 *= 2;
        log2++;
    }
    wr16(o + 4, (unsigned)keep);
    wr16(o + 6, pow2 * 16);
    wr16(o + 8, log2);
    wr16(o + 10, (unsigned)keep * 16 - pow2 * 16);
    size_t at = header, head_at = 0;
    for (size_t i = 0; i < keep; i++) {
        const unsigned char *r = rec[i];
        size_t tlen = rd32(r + 12);
        bool post = memcmp(r, "post", 4) == 0 && tlen >= 32;
        if (post) {
            tlen = 32; /* the header only: format 3 has no glyph names */
        }
        memcpy(o + at, in + rd32(r + 8), tlen);
        if (post) {
            wr32(o + at, 0x00030000);
        }
        if (memcmp(r, "head", 4) == 0 && tlen >= 12) {
            head_at = at;
            wr32(o + at + 8, 0); /* checkSumAdjustment, set below */
        }
        unsigned char *w = o + 12 + 16 * i;
        memcpy(w, r, 4);
        wr32(w + 4, table_sum(o + at, tlen));
        wr32(w + 8, (uint32_t)at);
        wr32(w + 12, (uint32_t)tlen);
        at += (tlen + 3) & ~(size_t)3;
    }
    if (head_at != 0) {
        wr32(o + head_at + 8, 0xB1B0AFBAu - table_sum(o, at));
    }
    *out = o;
    *out_len = at;
    return true;
}

/* Fills path with something libharu can open for the font at src: the trimmed copy in a memfd,
 * or src itself when it cannot be trimmed. */
static enum bx_err prepare_font(const char *src, char *path, size_t path_size, int *fd_out,
                                struct bx_error *err) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        return bx_error_set(err, BX_INTERNAL, NULL, "cannot open font %s: %s", src,
                            strerror(errno));
    }
    unsigned char *buf = malloc(FONT_FILE_MAX);
    size_t len = 0;
    ssize_t r = 0;
    while (buf != NULL && len < FONT_FILE_MAX &&
           ((r = read(in, buf + len, FONT_FILE_MAX - len)) > 0 || (r < 0 && errno == EINTR))) {
        len += r > 0 ? (size_t)r : 0;
    }
    close(in);
    unsigned char *trimmed = NULL;
    size_t trimmed_len = 0;
    int fd = -1;
    if (buf != NULL && r == 0 && trim_font(buf, len, &trimmed, &trimmed_len)) {
        fd = memfd_create("ticketgen-font", MFD_CLOEXEC);
        size_t done = 0;
        while (fd >= 0 && done < trimmed_len) {
            ssize_t w = write(fd, trimmed + done, trimmed_len - done);
            if (w < 0 && errno != EINTR) {
                close(fd);
                fd = -1;
            }
            done += w > 0 ? (size_t)w : 0;
        }
    }
    free(buf);
    free(trimmed);
    if (fd < 0) {
        bx_warn("font %s: using it untrimmed (PDFs render slower)", src);
        bx_strlcpy(path, src, path_size);
    } else {
        snprintf(path, path_size, "/proc/self/fd/%d", fd);
    }
    *fd_out = fd;
    return BX_OK;
}

enum bx_err tg_render_global_init(const char *font_path, const char *bold_path,
                                  struct bx_error *err) {
    enum bx_err e =
        prepare_font(font_path, fonts.regular, sizeof fonts.regular, &fonts.fds[0], err);
    if (e == BX_OK) {
        e = prepare_font(bold_path, fonts.bold, sizeof fonts.bold, &fonts.fds[1], err);
    }
    return e;
}

void tg_render_global_done(void) {
    for (size_t i = 0; i < 2; i++) {
        if (fonts.fds[i] >= 0) {
            close(fonts.fds[i]);
            fonts.fds[i] = -1;
        }
    }
}

/* ---- renderers */

struct codepage {
    uint16_t cp[224]; /* Unicode of the bytes 0x20..0xff, sorted for bsearch, with their byte */
    uint8_t byte[224];
    size_t n;
};

struct tg_renderer {
    HPDF_Doc pdf;
    enum tg_paper paper;
    const char *zoneinfo_dir;
    const char *regular, *bold; /* font names in the document */
    struct codepage pages[N_CODEPAGES];
    HPDF_STATUS error; /* first libharu error since the last reset */
    HPDF_STATUS detail;
};

static void on_hpdf_error(HPDF_STATUS code, HPDF_STATUS detail, void *user) {
    struct tg_renderer *r = user;
    if (r->error == 0) {
        r->error = code;
        r->detail = detail;
    }
}

static void build_codepage(HPDF_Encoder enc, struct codepage *p) {
    p->n = 0;
    for (unsigned b = 0x20; b <= 0xff && enc != NULL; b++) {
        HPDF_UNICODE u = HPDF_Encoder_GetUnicode(enc, (HPDF_UINT16)b);
        if (u == 0 || (b >= 0x7f && b < 0xa0 && u < 0xa0)) {
            continue; /* unassigned, or a control character */
        }
        size_t i = p->n++; /* insertion sort: 224 entries, once per renderer */
        while (i > 0 && p->cp[i - 1] > u) {
            p->cp[i] = p->cp[i - 1];
            p->byte[i] = p->byte[i - 1];
            i--;
        }
        p->cp[i] = u;
        p->byte[i] = (uint8_t)b;
    }
}

struct tg_renderer *tg_renderer_new(enum tg_paper paper, const char *zoneinfo_dir,
                                    struct bx_error *err) {
    struct tg_renderer *r = calloc(1, sizeof *r);
    if (r == NULL) {
        bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    r->paper = paper;
    r->zoneinfo_dir = zoneinfo_dir;
    r->pdf = HPDF_New(on_hpdf_error, r);
    if (r->pdf != NULL) {
        HPDF_UseUTFEncodings(r->pdf);
        r->regular = HPDF_LoadTTFontFromFile(r->pdf, fonts.regular, HPDF_TRUE);
        r->bold = HPDF_LoadTTFontFromFile(r->pdf, fonts.bold, HPDF_TRUE);
        for (size_t i = 0; i < N_CODEPAGES; i++) {
            build_codepage(HPDF_GetEncoder(r->pdf, codepages[i]), &r->pages[i]);
        }
    }
    if (r->pdf == NULL || r->regular == NULL || r->bold == NULL || r->error != 0) {
        bx_error_set(err, BX_INTERNAL, NULL, "libharu cannot load the fonts (error 0x%04lX)",
                     (unsigned long)r->error);
        tg_renderer_free(r);
        return NULL;
    }
    return r;
}

void tg_renderer_free(struct tg_renderer *r) {
    if (r != NULL) {
        if (r->pdf != NULL) {
            HPDF_Free(r->pdf);
        }
        free(r);
    }
}

/* ---- text */

/* Decodes UTF-8 into code points (at most max); invalid bytes become U+FFFD, control characters
 * a space, and characters outside the BMP U+FFFD (libharu's UTF-8 encoder is 16-bit). */
static size_t decode_utf8(const char *s, uint32_t *cps, size_t max) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p && n < max) {
        uint32_t c = *p, need = 0;
        if (c >= 0xf0 && c < 0xf5) {
            need = 3;
            c &= 0x07;
        } else if (c >= 0xe0 && c < 0xf0) {
            need = 2;
            c &= 0x0f;
        } else if (c >= 0xc2 && c < 0xe0) {
            need = 1;
            c &= 0x1f;
        } else if (c >= 0x80) {
            c = 0xfffd;
        }
        p++;
        for (uint32_t i = 0; i < need; i++, p++) {
            if ((*p & 0xc0) != 0x80) {
                c = 0xfffd;
                need = 0;
                break;
            }
            c = c << 6 | (*p & 0x3f);
        }
        if (c < 0x20 || (c >= 0x7f && c < 0xa0) || (c >= 0x202a && c <= 0x202e) ||
            (c >= 0x2066 && c <= 0x2069)) {
            c = ' '; /* controls and bidi overrides cannot reorder or break a ticket line */
        } else if (c > 0xffff || (c >= 0xd800 && c <= 0xdfff)) {
            c = 0xfffd;
        }
        cps[n++] = c;
    }
    return n;
}

static int codepage_byte(const struct codepage *p, uint32_t c) {
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->cp[mid] < c) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < p->n && p->cp[lo] == c ? p->byte[lo] : -1;
}

static size_t encode_utf8(const uint32_t *cps, size_t n, char *out, size_t size) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < size; i++) {
        uint32_t c = cps[i];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else if (c < 0x800) {
            out[o++] = (char)(0xc0 | c >> 6);
            out[o++] = (char)(0x80 | (c & 0x3f));
        } else {
            out[o++] = (char)(0xe0 | c >> 12);
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    out[o] = '\0';
    return o;
}

/* The font to show cps with and the bytes to show (NUL-terminated in out). */
static HPDF_Font pick_font(struct tg_renderer *r, bool bold, const uint32_t *cps, size_t n,
                           char *out, size_t size) {
    const char *name = bold ? r->bold : r->regular;
    for (size_t p = 0; p < N_CODEPAGES; p++) {
        size_t i = 0;
        for (; i < n && i + 1 < size; i++) {
            int b = codepage_byte(&r->pages[p], cps[i]);
            if (b < 0) {
                break;
            }
            out[i] = (char)b;
        }
        if (i == n) {
            out[n] = '\0';
            return HPDF_GetFont(r->pdf, name, codepages[p]);
        }
    }
    encode_utf8(cps, n, out, size);
    return HPDF_GetFont(r->pdf, name, "UTF-8");
}

static float text_width(HPDF_Font font, const char *bytes, float size) {
    HPDF_TextWidth tw =
        HPDF_Font_TextWidth(font, (const HPDF_BYTE *)bytes, (HPDF_UINT)strlen(bytes));
    return (float)tw.width * size / 1000.0f; /* widths are in 1/1000 em */
}

/* Shows text at (x, y) within max_w points: the size shrinks down to min_size, then the text is
 * cut with an ellipsis. */
static void show(struct tg_renderer *r, HPDF_Page page, bool bold, const char *text, float x,
                 float y, float max_w, float size, float min_size) {
    uint32_t cps[TEXT_CP_MAX + 1];
    char bytes[LINE_BYTES_MAX];
    size_t n = decode_utf8(text, cps, TEXT_CP_MAX);
    HPDF_Font font = pick_font(r, bold, cps, n, bytes, sizeof bytes);
    if (font == NULL) {
        return;
    }
    float w = text_width(font, bytes, size);
    if (w > max_w) {
        float fit = size * max_w / w;
        size = fit < min_size ? min_size : fit;
    }
    /* still too wide at the smallest size: cut code points (at most n rounds) */
    while (n > 1 && text_width(font, bytes, size) > max_w) {
        n--;
        cps[n - 1] = 0x2026; /* … */
        if ((font = pick_font(r, bold, cps, n, bytes, sizeof bytes)) == NULL) {
            return;
        }
    }
    HPDF_Page_BeginText(page);
    HPDF_Page_SetFontAndSize(page, font, size);
    HPDF_Page_TextOut(page, x, y, bytes);
    HPDF_Page_EndText(page);
}

/* ---- content */

static const char *const weekdays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
static const char *const months[] = {"January",   "February", "March",    "April",
                                     "May",       "June",     "July",     "August",
                                     "September", "October",  "November", "December"};

static int currency_exponent(const char *c) {
    static const char *const zero[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
                                       "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                                       "VND", "VUV", "XAF", "XOF", "XPF"};
    static const char *const three[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
    for (size_t i = 0; i < BX_ARRAY_LEN(zero); i++) {
        if (strcmp(c, zero[i]) == 0) {
            return 0;
        }
    }
    for (size_t i = 0; i < BX_ARRAY_LEN(three); i++) {
        if (strcmp(c, three[i]) == 0) {
            return 3;
        }
    }
    return strcmp(c, "CLF") == 0 || strcmp(c, "UYW") == 0 ? 4 : 2;
}

void tg_format_price(int64_t cents, const char *currency, char *out, size_t size) {
    BX_ASSERT(cents >= 0);
    int exp = currency_exponent(currency);
    int64_t div = 1;
    for (int i = 0; i < exp; i++) {
        div *= 10;
    }
    int64_t major = cents / div, minor = cents % div;
    char digits[32], grouped[48];
    int nd = snprintf(digits, sizeof digits, "%lld", (long long)major);
    size_t g = 0;
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0) {
            grouped[g++] = ',';
        }
        grouped[g++] = digits[i];
    }
    grouped[g] = '\0';
    if (exp == 0) {
        snprintf(out, size, "%s %s", grouped, currency);
    } else {
        snprintf(out, size, "%s.%0*lld %s", grouped, exp, (long long)minor, currency);
    }
}

static void qr(HPDF_Page page, const QRcode *q, float x, float y, float size) {
    float m = size / (float)(q->width + 2 * QR_QUIET);
    float x0 = x + QR_QUIET * m, top = y + size - QR_QUIET * m;
    HPDF_Page_SetGrayFill(page, 0);
    for (int row = 0; row < q->width; row++) {
        const unsigned char *line = q->data + (size_t)row * (size_t)q->width;
        for (int col = 0; col < q->width;) {
            if (!(line[col] & 1)) {
                col++;
                continue;
            }
            int run = col;
            while (run < q->width && (line[run] & 1)) {
                run++;
            }
            /* one rectangle per horizontal run of dark modules */
            HPDF_Page_Rectangle(page, x0 + (float)col * m, top - (float)(row + 1) * m,
                                (float)(run - col) * m, m);
            col = run;
        }
    }
    HPDF_Page_Fill(page);
}

static void label(struct tg_renderer *r, HPDF_Page page, const char *name, const char *value,
                  bool bold, float x, float y, float w) {
    HPDF_Page_SetGrayFill(page, 0.45f);
    show(r, page, false, name, x, y, w, 8.5f, 8.5f);
    HPDF_Page_SetGrayFill(page, 0);
    show(r, page, bold, value, x, y - 15, w, bold ? 14 : 12, 7);
}

enum bx_err tg_render(struct tg_renderer *r, const struct tg_ticket_view *v, char **pdf_out,
                      size_t *len_out, struct bx_error *err) {
    const struct tg_order *o = v->order;
    struct tg_local lt;
    if (!tg_tz_local(r->zoneinfo_dir, o->timezone, o->starts_at, &lt)) {
        return bx_error_set(err, BX_INVALID_FIELD, "venue.timezone",
                            "time zone %s cannot be read under %s", o->timezone, r->zoneinfo_dir);
    }
    QRcode *code = QRcode_encodeString(v->qr_text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (code == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "libqrencode failed: %s", strerror(errno));
    }
    r->error = 0;
    HPDF_NewDoc(r->pdf); /* keeps the parsed fonts; drops the previous ticket */
    HPDF_SetCompressionMode(r->pdf, HPDF_COMP_ALL);
    HPDF_SetInfoAttr(r->pdf, HPDF_INFO_CREATOR, "boxoffice-ticketgen");
    HPDF_Page page = HPDF_AddPage(r->pdf);
    HPDF_Page_SetSize(page, r->paper == TG_PAPER_LETTER ? HPDF_PAGE_SIZE_LETTER : HPDF_PAGE_SIZE_A4,
                      HPDF_PAGE_PORTRAIT);
    float pw = HPDF_Page_GetWidth(page), ph = HPDF_Page_GetHeight(page);
    float x = MARGIN_PT, w = pw - 2 * MARGIN_PT, y = ph - MARGIN_PT - 10;
    char line[LINE_BYTES_MAX], price[64];

    HPDF_Page_SetRGBFill(page, 0.55f, 0.1f, 0.2f);
    show(r, page, true, "BOXOFFICE  \xC2\xB7  TICKET", x, y, w, 10, 10);
    HPDF_Page_SetGrayFill(page, 0);
    y -= 34;
    show(r, page, true, o->title, x, y, w, 22, 12);
    y -= 24;
    snprintf(line, sizeof line, "%s %d %s %d  \xC2\xB7  %02d:%02d %s", weekdays[lt.wday], lt.day,
             months[lt.month - 1], lt.year, lt.hour, lt.minute, lt.abbr);
    show(r, page, false, line, x, y, w, 13, 9);
    y -= 19;
    snprintf(line, sizeof line, "%s, %s", o->venue_name, o->venue_city);
    show(r, page, false, line, x, y, w, 12, 8);
    if (o->venue_address[0] != '\0') {
        y -= 15;
        HPDF_Page_SetGrayFill(page, 0.35f);
        snprintf(line, sizeof line, "%s, %s", o->venue_address, o->venue_country);
        show(r, page, false, line, x, y, w, 10, 7);
        HPDF_Page_SetGrayFill(page, 0);
    }
    y -= 16;
    HPDF_Page_SetGrayStroke(page, 0.7f);
    HPDF_Page_SetLineWidth(page, 0.8f);
    HPDF_Page_MoveTo(page, x, y);
    HPDF_Page_LineTo(page, x + w, y);
    HPDF_Page_Stroke(page);

    /* the QR code on the right, the details on the left */
    float qr_y = y - 16 - QR_SIZE_PT, col_w = w - QR_SIZE_PT - 16;
    qr(page, code, x + w - QR_SIZE_PT, qr_y, QR_SIZE_PT);
    float ly = y - 28;
    label(r, page, "HOLDER", o->holder_name, true, x, ly, col_w);
    ly -= 42;
    label(r, page, "TIER", o->tier_name, false, x, ly, col_w);
    ly -= 40;
    tg_format_price(o->price_cents, o->currency, price, sizeof price);
    label(r, page, "PRICE", price, false, x, ly, col_w);
    ly -= 40;
    label(r, page, "TICKET", v->ticket_id, false, x, ly, col_w);
    ly -= 40;
    label(r, page, "ORDER", o->id, false, x, ly, col_w);

    y = qr_y - 28;
    HPDF_Page_SetGrayFill(page, 0.35f);
    show(r, page, false,
         "Show this code at the entrance. Each ticket admits one person, once; copies are "
         "refused after the first scan.",
         x, y, w, 9, 6);
    snprintf(line, sizeof line, "Signed with ticket key %s (GET /api/tickets/keys).", v->kid);
    show(r, page, false, line, x, y - 13, w, 9, 6);
    QRcode_free(code);

    enum bx_err e = BX_OK;
    if (r->error == 0) {
        HPDF_SaveToStream(r->pdf);
    }
    HPDF_UINT32 size = r->error == 0 ? HPDF_GetStreamSize(r->pdf) : 0;
    char *buf = NULL;
    if (r->error != 0 || size == 0 || size > TG_PDF_MAX) {
        e = bx_error_set(err, BX_INTERNAL, NULL, "libharu error 0x%04lX (detail %lu), %lu bytes",
                         (unsigned long)r->error, (unsigned long)r->detail, (unsigned long)size);
    } else if ((buf = malloc(size)) == NULL) {
        e = bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    } else {
        HPDF_UINT32 got = size;
        HPDF_ResetStream(r->pdf);
        HPDF_ReadFromStream(r->pdf, (HPDF_BYTE *)buf, &got);
        if (got != size || r->error != 0) {
            e = bx_error_set(err, BX_INTERNAL, NULL, "libharu stream read %lu of %lu bytes",
                             (unsigned long)got, (unsigned long)size);
        }
    }
    if (e != BX_OK) {
        free(buf);
        HPDF_ResetError(r->pdf);
        return e;
    }
    *pdf_out = buf;
    *len_out = size;
    return BX_OK;
}
