/*
 * test_fuzz_replay.c — replays the kept fuzz inputs under the ordinary (ASan/UBSan) build:
 * every file in tests/fuzz/seeds/model/ (the seeds), tests/fuzz/corpus/model/ (small inputs that
 * fuzz_tokenizer_load found new coverage with) and tests/fuzz/regress/ (crashers, none so far) is
 * loaded as a .model; it must load, or fail with a
 * message naming the file. A loaded model then tokenizes a few texts and its own bytes.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "testutil.h"

static int replayed;

static void replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *path = jc_path_join(dir, e->d_name);
        jaclip_tokenizer *t = NULL;
        jaclip_err err = {0};
        jaclip_status st = jaclip_tokenizer_load(path, &t, &err);
        if (st) {
            CHECK(strstr(err.msg, path) != NULL, "%s: error does not name the file: %s", path, err.msg);
        } else {
            int32_t ids[300];
            int n;
            static const char *const texts[] = {"東京タワーの夜景", "A photo of a DOG [CLS]<s>", "\xff\xfe\x00x"};
            for (int i = 0; i < 3; i++)
                CHECK(jaclip_tokenize(t, texts[i], strlen(texts[i]) + (i == 2), ids, 300, &n, NULL) == JACLIP_OK,
                      "%s: tokenize", path);
            char *data;
            size_t len;
            if (jc_read_file(path, 1 << 24, &data, &len, NULL) == JACLIP_OK) {
                CHECK(jaclip_tokenize(t, data, len < 2000 ? len : 2000, ids, 300, &n, NULL) == JACLIP_OK,
                      "%s: tokenize own bytes", path);
                free(data);
            }
            jaclip_tokenizer_free(t);
        }
        replayed++;
        free(path);
    }
    closedir(d);
}

int main(void)
{
    replay_dir("tests/fuzz/seeds/model");
    replay_dir("tests/fuzz/corpus/model");
    replay_dir("tests/fuzz/regress");
    CHECK(replayed >= 3, "only %d fuzz inputs found (run from the repository root)", replayed);
    return test_done();
}
