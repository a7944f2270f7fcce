/*
 * test_fuzz_regressions.c — replays every input in tests/mining/fuzz/regressions (crashes the
 * fuzz target found, kept after the fix) through the fuzz target's own entry point, so the
 * ASan/UBSan test build catches a regression without clang or libFuzzer.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "mining/fuzz/fuzz_wat.c"
#include "testutil.h"

int main(void)
{
    const char *dir = "tests/mining/fuzz/regressions";
    DIR *d = opendir(dir);
    REQUIRE(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *path = jc_path_join(dir, e->d_name);
        char *data;
        size_t len;
        jaclip_err err;
        if (jc_read_file(path, 64u << 20, &data, &len, &err) == JACLIP_OK) {
            CHECK(LLVMFuzzerTestOneInput((const uint8_t *)data, len) == 0, "%s", path);
            free(data);
            n++;
        }
        free(path);
    }
    closedir(d);
    CHECK(n >= 1, "no regression inputs found");
    /* and the seed shapes: truncated and whole copies of the real WAT */
    char path[512];
    snprintf(path, sizeof path, "%s/commoncrawl/whirlwind.warc.wat.gz", test_shared());
    char *data;
    size_t len;
    jaclip_err err;
    REQUIRE(jc_read_file(path, 1u << 20, &data, &len, &err) == JACLIP_OK, "%s", err.msg);
    for (size_t cut = 0; cut <= len; cut += 97) CHECK(LLVMFuzzerTestOneInput((const uint8_t *)data, cut) == 0, "cut");
    free(data);
    return test_done();
}
