/*
 * csvget FILE COLUMN [KEY=VALUE ...]: print COLUMN of every row whose KEY
 * columns equal VALUE, one per line. A small independent RFC 4180 reader
 * (quoted fields, doubled quotes) so shell tests need no CSV tooling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXF 512

static int read_row(FILE *f, char **fields, int *nf)
{
    static char buf[1 << 20];
    size_t len = 0;
    int c, inq = 0, n = 0;
    size_t start = 0;
    if ((c = fgetc(f)) == EOF) return 0;
    ungetc(c, f);
    while ((c = fgetc(f)) != EOF) {
        if (inq) {
            if (c == '"') {
                int d = fgetc(f);
                if (d == '"') buf[len++] = '"';
                else { inq = 0; if (d != EOF) ungetc(d, f); }
            } else buf[len++] = (char)c;
        } else if (c == '"') inq = 1;
        else if (c == ',' || c == '\n') {
            buf[len++] = '\0';
            if (n < MAXF) fields[n++] = buf + start;
            start = len;
            if (c == '\n') break;
        } else if (c != '\r') buf[len++] = (char)c;
        if (len + 2 >= sizeof buf) return -1;
    }
    if (c == EOF && start < len) { buf[len++] = '\0'; fields[n++] = buf + start; }
    *nf = n;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: csvget FILE COLUMN [KEY=VALUE ...]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 2; }
    char *hdr[MAXF], *row[MAXF];
    int nh, nr;
    if (read_row(f, hdr, &nh) != 1) return 2;
    char *names[MAXF];
    for (int i = 0; i < nh; i++) names[i] = strdup(hdr[i]);
    int col = -1, keys[64], nkeys = 0;
    const char *vals[64];
    for (int i = 0; i < nh; i++) if (strcmp(names[i], argv[2]) == 0) col = i;
    if (col < 0) { fprintf(stderr, "csvget: no column %s\n", argv[2]); return 2; }
    for (int a = 3; a < argc && nkeys < 64; a++) {
        char *eq = strchr(argv[a], '=');
        if (!eq) return 2;
        *eq = '\0';
        keys[nkeys] = -1;
        for (int i = 0; i < nh; i++) if (strcmp(names[i], argv[a]) == 0) keys[nkeys] = i;
        if (keys[nkeys] < 0) { fprintf(stderr, "csvget: no column %s\n", argv[a]); return 2; }
        vals[nkeys++] = eq + 1;
    }
    int r;
    while ((r = read_row(f, row, &nr)) == 1) {
        if (nr != nh) { fprintf(stderr, "csvget: row with %d fields, header has %d\n", nr, nh); return 2; }
        int ok = 1;
        for (int k = 0; k < nkeys && ok; k++) ok = strcmp(row[keys[k]], vals[k]) == 0;
        if (ok) printf("%s\n", row[col]);
    }
    return r < 0 ? 2 : 0;
}
