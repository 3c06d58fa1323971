// SPDX-License-Identifier: Apache-2.0
// Local time in an IANA zone for the ticket's date line, read straight from the TZif files
// (RFC 8536) under /usr/share/zoneinfo, including the POSIX TZ rule of the footer for times past
// the last listed transition (slim files list none after 2007 for many zones; fat ones stop in
// 2037). Why not setenv("TZ") + tzset + localtime_r under a mutex: TZ is process state that
// libc reads behind our back (getenv in any thread, localtime elsewhere), so a mutex of ours
// cannot make it safe; this file keeps no global state but a cache of parsed, immutable zones.
// Limits: files up to TZIF_MAX_BYTES, TZIF_TIMES_MAX transitions, 256 types; anything else is a
// zone we cannot read (the order is then rejected, not rendered in a wrong zone).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "ticketgen.h"

#define TZIF_MAX_BYTES (256 * 1024)
#define TZIF_TIMES_MAX 10000
#define TZIF_TYPES_MAX 256
#define TZIF_CHARS_MAX 512
#define TZ_CACHE_MAX   64
#define TZ_RULE_MAX    128 /* longest footer TZ string accepted */
#define SECS_PER_DAY   86400

struct rule_part {
    char kind; /* 'J': Julian 1-365 without Feb 29, 'N': zero-based day with it, 'M': m.w.d */
    int m, w, d, n;
    int32_t time_s; /* local time of day of the change (may be negative or past 24 h) */
};

struct rule {
    bool present, has_dst;
    char std_abbr[16], dst_abbr[16];
    int32_t std_off, dst_off; /* seconds east of UTC */
    struct rule_part start, end;
};

struct ttype {
    int32_t utoff;
    uint8_t abbr_idx;
};

struct zone {
    char name[TG_TZ_NAME_MAX + 1];
    size_t n_times;
    int64_t *times;
    uint8_t *idx;
    size_t n_types;
    struct ttype types[TZIF_TYPES_MAX];
    char chars[TZIF_CHARS_MAX + 1];
    struct rule rule;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zone *cache[TZ_CACHE_MAX]; /* zones are immutable once here; kept until exit */
static size_t n_cache;

bool tg_tz_name_valid(const char *zone) {
    return bx_tz_name_valid(zone);
}

static void zone_free(struct zone *z) {
    if (z != NULL) {
        free(z->times);
        free(z->idx);
        free(z);
    }
}

/* ---- POSIX TZ strings ("CET-1CEST,M3.5.0,M10.5.0/3") */

static const char *parse_abbr(const char *p, char *out, size_t size) {
    size_t n = 0;
    if (*p == '<') {
        p++;
        while (*p && *p != '>') {
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || *p == '+' || *p == '-') ||
                n + 1 >= size) {
                return NULL;
            }
            out[n++] = *p++;
        }
        if (*p != '>') {
            return NULL;
        }
        p++;
    } else {
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
            if (n + 1 >= size) {
                return NULL;
            }
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return n >= 3 ? p : NULL;
}

static const char *parse_num(const char *p, int lo, int hi, int *out) {
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 4) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0 || v < lo || v > hi) {
        return NULL;
    }
    *out = v;
    return p;
}

/* [+-]hh[:mm[:ss]], hours up to max_h; seconds into *out. */
static const char *parse_hms(const char *p, int max_h, int32_t *out) {
    int sign = 1, h = 0, m = 0, s = 0;
    if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    if ((p = parse_num(p, 0, max_h, &h)) == NULL) {
        return NULL;
    }
    if (*p == ':' && ((p = parse_num(p + 1, 0, 59, &m)) == NULL ||
                      (*p == ':' && (p = parse_num(p + 1, 0, 59, &s)) == NULL))) {
        return NULL;
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *parse_part(const char *p, struct rule_part *r) {
    if (*p == 'J') {
        r->kind = 'J';
        p = parse_num(p + 1, 1, 365, &r->n);
    } else if (*p == 'M') {
        r->kind = 'M';
        if ((p = parse_num(p + 1, 1, 12, &r->m)) == NULL || *p != '.' ||
            (p = parse_num(p + 1, 1, 5, &r->w)) == NULL || *p != '.') {
            return NULL;
        }
        p = parse_num(p + 1, 0, 6, &r->d);
    } else {
        r->kind = 'N';
        p = parse_num(p, 0, 365, &r->n);
    }
    r->time_s = 2 * 3600;
    if (p != NULL && *p == '/') {
        p = parse_hms(p + 1, 167, &r->time_s); /* RFC 8536 allows -167..167 hours */
    }
    return p;
}

static bool parse_rule(const char *s, struct rule *r) {
    memset(r, 0, sizeof *r);
    int32_t off;
    const char *p = parse_abbr(s, r->std_abbr, sizeof r->std_abbr);
    if (p == NULL || (p = parse_hms(p, 24, &off)) == NULL) {
        return false;
    }
    r->std_off = -off; /* POSIX counts west of Greenwich as positive */
    r->present = true;
    if (*p == '\0') {
        return true;
    }
    if ((p = parse_abbr(p, r->dst_abbr, sizeof r->dst_abbr)) == NULL) {
        return false;
    }
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if ((p = parse_hms(p, 24, &off)) == NULL) {
            return false;
        }
        r->dst_off = -off;
    }
    if (*p == '\0') { /* POSIX default: the US rules */
        r->start = (struct rule_part){.kind = 'M', .m = 3, .w = 2, .d = 0, .time_s = 7200};
        r->end = (struct rule_part){.kind = 'M', .m = 11, .w = 1, .d = 0, .time_s = 7200};
        return true;
    }
    if (*p != ',' || (p = parse_part(p + 1, &r->start)) == NULL || *p != ',' ||
        (p = parse_part(p + 1, &r->end)) == NULL) {
        return false;
    }
    return *p == '\0';
}

static bool is_leap(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* The UTC time at which a rule part takes effect in year y, given the offset in force before. */
static int64_t part_utc(const struct rule_part *r, int64_t y, int32_t off_before) {
    int64_t day;
    if (r->kind == 'J') {
        day = bx_days_from_civil(y, 1, 1) + r->n - 1 + (is_leap(y) && r->n >= 60 ? 1 : 0);
    } else if (r->kind == 'N') {
        day = bx_days_from_civil(y, 1, 1) + r->n;
    } else {
        int64_t first = bx_days_from_civil(y, r->m, 1);
        int wday_first = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int mday = 1 + (r->d - wday_first + 7) % 7 + (r->w - 1) * 7;
        while (mday > month_days(y, r->m)) {
            mday -= 7;
        }
        day = first + mday - 1;
    }
    return day * SECS_PER_DAY + r->time_s - off_before;
}

static void rule_at(const struct rule *r, int64_t t, int32_t *off, const char **abbr) {
    *off = r->std_off;
    *abbr = r->std_abbr;
    if (!r->has_dst) {
        return;
    }
    time_t local = (time_t)(t + r->std_off);
    struct tm tm;
    gmtime_r(&local, &tm);
    int64_t y = (int64_t)tm.tm_year + 1900;
    int64_t start = part_utc(&r->start, y, r->std_off), end = part_utc(&r->end, y, r->dst_off);
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    if (dst) {
        *off = r->dst_off;
        *abbr = r->dst_abbr;
    }
}

/* ---- TZif files */

struct reader {
    const unsigned char *p, *end;
};

static bool take(struct reader *rd, size_t n, const unsigned char **out) {
    if ((size_t)(rd->end - rd->p) < n) {
        return false;
    }
    *out = rd->p;
    rd->p += n;
    return true;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static bool header(struct reader *rd, char *version, struct counts *c) {
    const unsigned char *h;
    if (!take(rd, 44, &h) || memcmp(h, "TZif", 4) != 0) {
        return false;
    }
    *version = (char)h[4];
    c->isut = be32(h + 20);
    c->isstd = be32(h + 24);
    c->leap = be32(h + 28);
    c->time = be32(h + 32);
    c->type = be32(h + 36);
    c->chars = be32(h + 40);
    return c->time <= TZIF_TIMES_MAX && c->type >= 1 && c->type <= TZIF_TYPES_MAX &&
           c->chars <= TZIF_CHARS_MAX && c->leap <= TZIF_TIMES_MAX && c->isut <= c->type &&
           c->isstd <= c->type;
}

/* Reads one data block with time_size-byte times into z. */
static bool data_block(struct reader *rd, const struct counts *c, size_t time_size,
                       struct zone *z) {
    const unsigned char *times, *idx, *types, *chars, *skip;
    if (!take(rd, c->time * time_size, &times) || !take(rd, c->time, &idx) ||
        !take(rd, c->type * 6, &types) || !take(rd, c->chars, &chars) ||
        !take(rd, c->leap * (time_size + 4) + c->isstd + c->isut, &skip)) {
        return false;
    }
    z->n_times = c->time;
    z->times = malloc((c->time ? c->time : 1) * sizeof *z->times);
    z->idx = malloc(c->time ? c->time : 1);
    if (z->times == NULL || z->idx == NULL) {
        return false;
    }
    for (size_t i = 0; i < c->time; i++) {
        z->times[i] = time_size == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (idx[i] >= c->type || (i > 0 && z->times[i] <= z->times[i - 1])) {
            return false;
        }
        z->idx[i] = idx[i];
    }
    z->n_types = c->type;
    for (size_t i = 0; i < c->type; i++) {
        z->types[i].utoff = (int32_t)be32(types + 6 * i);
        z->types[i].abbr_idx = types[6 * i + 5];
        if (z->types[i].abbr_idx >= c->chars || z->types[i].utoff < -25 * 3600 ||
            z->types[i].utoff > 26 * 3600) {
            return false;
        }
    }
    memcpy(z->chars, chars, c->chars);
    z->chars[c->chars] = '\0';
    return true;
}

static bool parse_tzif(const unsigned char *buf, size_t len, struct zone *z) {
    struct reader rd = {buf, buf + len};
    char version;
    struct counts c;
    if (!header(&rd, &version, &c)) {
        return false;
    }
    if (version == '\0') {
        return data_block(&rd, &c, 4, z);
    }
    const unsigned char *skip;
    if (!take(&rd, c.time * 5 + c.type * 6 + c.chars + c.leap * 8 + c.isstd + c.isut, &skip) ||
        !header(&rd, &version, &c) || !data_block(&rd, &c, 8, z)) {
        return false;
    }
    /* footer: "\n<TZ string>\n"; an empty string means no rule */
    const unsigned char *nl;
    if (!take(&rd, 1, &nl) || *nl != '\n') {
        return false;
    }
    const unsigned char *end = memchr(rd.p, '\n', (size_t)(rd.end - rd.p));
    size_t n = end ? (size_t)(end - rd.p) : 0;
    if (end == NULL || n >= TZ_RULE_MAX) {
        return false;
    }
    char s[TZ_RULE_MAX];
    memcpy(s, rd.p, n);
    s[n] = '\0';
    return n == 0 || parse_rule(s, &z->rule);
}

static struct zone *zone_load(const char *dir, const char *name) {
    char path[1024];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        return NULL;
    }
    struct zone *z = calloc(1, sizeof *z);
    unsigned char *buf = malloc(TZIF_MAX_BYTES);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t total = 0, n = 0;
    if (z != NULL && buf != NULL && fd >= 0) {
        while (total < TZIF_MAX_BYTES &&
               ((n = read(fd, buf + total, (size_t)(TZIF_MAX_BYTES - total))) > 0 ||
                (n < 0 && errno == EINTR))) {
            total += n > 0 ? n : 0;
        }
    }
    bool ok = z != NULL && buf != NULL && fd >= 0 && n == 0 && total < TZIF_MAX_BYTES &&
              parse_tzif(buf, (size_t)total, z);
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    if (!ok) {
        zone_free(z);
        return NULL;
    }
    bx_strlcpy(z->name, name, sizeof z->name);
    return z;
}

static struct zone *zone_utc(void) {
    struct zone *z = calloc(1, sizeof *z);
    if (z != NULL) {
        z->n_types = 1;
        memcpy(z->chars, "UTC", 4);
        bx_strlcpy(z->name, "UTC", sizeof z->name);
    }
    return z;
}

static void zone_at(const struct zone *z, int64_t t, int32_t *off, const char **abbr) {
    if (z->n_times == 0 || t < z->times[0]) {
        if (z->n_times == 0 && z->rule.present) {
            rule_at(&z->rule, t, off, abbr);
            return;
        }
        *off = z->types[0].utoff;
        *abbr = z->chars + z->types[0].abbr_idx;
        return;
    }
    if (t >= z->times[z->n_times - 1] && z->rule.present) {
        rule_at(&z->rule, t, off, abbr);
        return;
    }
    size_t lo = 0, hi = z->n_times; /* the last transition at or before t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->times[mid] <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    const struct ttype *ty = &z->types[z->idx[lo]];
    *off = ty->utoff;
    *abbr = z->chars + ty->abbr_idx;
}

bool tg_tz_local(const char *zoneinfo_dir, const char *zone, int64_t unix_s, struct tg_local *out) {
    if (!tg_tz_name_valid(zone)) {
        return false;
    }
    struct zone *z = NULL, *temp = NULL;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < n_cache && z == NULL; i++) {
        if (strcmp(cache[i]->name, zone) == 0) {
            z = cache[i];
        }
    }
    pthread_mutex_unlock(&cache_lock);
    if (z == NULL) {
        z = zone_load(zoneinfo_dir, zone);
        if (z == NULL && (strcmp(zone, "UTC") == 0 || strcmp(zone, "Etc/UTC") == 0)) {
            z = zone_utc();
        }
        if (z == NULL) {
            return false;
        }
        pthread_mutex_lock(&cache_lock);
        if (n_cache < TZ_CACHE_MAX) {
            cache[n_cache++] = z; /* a racing loader may add the zone twice: harmless */
        } else {
            temp = z; /* cache full: use once, then free */
        }
        pthread_mutex_unlock(&cache_lock);
    }
    int32_t off = 0;
    const char *abbr = "";
    zone_at(z, unix_s, &off, &abbr);
    time_t local = (time_t)(unix_s + off);
    struct tm tm;
    bool ok = gmtime_r(&local, &tm) != NULL;
    if (ok) {
        out->year = tm.tm_year + 1900;
        out->month = tm.tm_mon + 1;
        out->day = tm.tm_mday;
        out->hour = tm.tm_hour;
        out->minute = tm.tm_min;
        out->wday = tm.tm_wday;
        out->utoff_s = off;
        bx_strlcpy(out->abbr, abbr, sizeof out->abbr);
    }
    zone_free(temp);
    return ok;
}
