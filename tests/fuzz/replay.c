/* tests/fuzz/replay.c - main() for a fuzz target outside libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named, and on every file in every
 * directory named (sorted, not recursive; README* skipped; a directory that does
 * not exist is skipped: regress/<target> may have none yet).  Built in every
 * build, so the seed corpus and the regression inputs run under the plain, ASan
 * and UBSan builds as ctest tests (label fuzz).  A crash or a failed check aborts
 * the program: ctest shows the last "replay: FILE" line, the input that did it.
 * Exits 1 if no input was found at all. */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
    size_t len;
    unsigned char *buf = fz_read(path, &len);
    if (!buf) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    /* an exact copy: a read past the input is seen by ASan */
    unsigned char *exact = malloc(len ? len : 1);
    if (!exact)
        abort();
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 1;
}

static int run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort), done = 0;
    if (n < 0)
        return 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && strncmp(names[i]->d_name, "README", 6) != 0 &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode))
            done += run_file(path);
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    int done = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0)
            continue;
        done += S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
    }
    fprintf(stderr, "replay: %d input%s, none crashed\n", done, done == 1 ? "" : "s");
    return done ? 0 : 1;
}
