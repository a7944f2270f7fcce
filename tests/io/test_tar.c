/* test_tar.c — WebDataset tar reading/writing checked against Python's tarfile (an
 * independent implementation), the real CIFAR-10 shard, and truncated/corrupt shards. */
#include <string.h>

#include "io/tar.h"
#include "testutil.h"

int main(void)
{
    const char *dir = test_tmpdir();
    char path[600], out[600];
    jaclip_err err = {0};

    /* 1. Python writes (ustar, GNU long names, pax), we read. */
    snprintf(path, sizeof path, "%s/py.tar", dir);
    REQUIRE(test_system("/usr/bin/python3 - '%s' <<'PY'\n"
                        "import tarfile, io, sys\n"
                        "def add(t, name, data):\n"
                        "    ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))\n"
                        "with tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT) as t:\n"
                        "    add(t, 'a/k1.jpg', b'J'*1000); add(t, 'a/k1.txt', '犬の写真'.encode()); add(t, 'a/k1.json', b'{}')\n"
                        "    add(t, 'a/k2.seg.png', b'P'*512); add(t, 'a/k2.cls', b'3')\n"
                        "    add(t, 'x'*150 + '.txt', b'long'); add(t, 'empty.txt', b'')\n"
                        "PY", path) == 0, "python tarfile failed");
    jc_tar_reader r;
    REQUIRE(jc_tar_open(path, &r, &err) == JACLIP_OK, "%s", err.msg);
    jc_wds_sample s;
    bool end;
    CHECK(jc_wds_next(&r, &s, &end, &err) == JACLIP_OK && !end, "%s", err.msg);
    CHECK(strcmp(s.key, "a/k1") == 0 && s.n_fields == 3, "key %s n %d", s.key, s.n_fields);
    const jc_wds_field *f = jc_wds_get(&s, "txt");
    CHECK(f && f->size == strlen("犬の写真") && memcmp(f->data, "犬の写真", f->size) == 0, "txt field");
    CHECK(jc_wds_image(&s) && jc_wds_image(&s)->size == 1000, "image field");
    CHECK(jc_wds_next(&r, &s, &end, &err) == JACLIP_OK && !end, "%s", err.msg);
    CHECK(strcmp(s.key, "a/k2") == 0 && s.n_fields == 2 && jc_wds_get(&s, "seg.png"), "multi-dot ext: %s", s.key);
    CHECK(jc_wds_next(&r, &s, &end, &err) == JACLIP_OK && !end, "%s", err.msg);
    CHECK(strlen(s.key) == 150 && jc_wds_get(&s, "txt") && jc_wds_get(&s, "txt")->size == 4, "GNU long name");
    CHECK(jc_wds_next(&r, &s, &end, &err) == JACLIP_OK && !end && strcmp(s.key, "empty") == 0, "empty member");
    CHECK(jc_wds_next(&r, &s, &end, &err) == JACLIP_OK && end, "end");
    jc_tar_close(&r);

    /* 2. We write, Python reads. */
    snprintf(out, sizeof out, "%s/ours.tar", dir);
    jc_tar_writer w;
    REQUIRE(jc_tar_writer_open(out, &w, &err) == JACLIP_OK, "%s", err.msg);
    char longname[200];
    memset(longname, 'y', 120);
    strcpy(longname + 120, ".json");
    CHECK(jc_tar_write(&w, "000001.jpg", "abc", 3, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_tar_write(&w, "000001.txt", "夕焼け", strlen("夕焼け"), &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_tar_write(&w, longname, "{\"a\":1}", 7, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(test_system("test -e '%s'", out) != 0, "shard visible before close");
    CHECK(jc_tar_writer_close(&w, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(test_system("/usr/bin/python3 -c \"import tarfile,sys; t=tarfile.open('%s'); m=t.getmembers(); "
                      "assert [x.name for x in m]==['000001.jpg','000001.txt','%s'], [x.name for x in m]; "
                      "assert t.extractfile(m[1]).read().decode()=='夕焼け'\"", out, longname) == 0,
          "python cannot read our tar");

    /* 3. Truncated shard: an error naming the file and offset, not a crash. */
    snprintf(path, sizeof path, "%s/trunc.tar", dir);
    REQUIRE(test_system("head -c 1300 '%s' > '%s'", out, path) == 0, "head");
    REQUIRE(jc_tar_open(path, &r, &err) == JACLIP_OK, "%s", err.msg);
    jaclip_status st = JACLIP_OK;
    for (int i = 0; i < 5 && st == JACLIP_OK; i++) {
        st = jc_wds_next(&r, &s, &end, &err);
        if (end) break;
    }
    CHECK(st == JACLIP_ERR_FORMAT && strstr(err.msg, "trunc.tar") && strstr(err.msg, "offset"), "truncated: %s", err.msg);
    jc_tar_close(&r);
    snprintf(path, sizeof path, "%s/corrupt.tar", dir);
    REQUIRE(test_system("cp '%s' '%s' && printf 'ZZZZ' | dd of='%s' bs=1 seek=130 conv=notrunc 2>/dev/null", out, path, path) == 0, "dd");
    REQUIRE(jc_tar_open(path, &r, &err) == JACLIP_OK, "%s", err.msg);
    st = jc_wds_next(&r, &s, &end, &err);
    CHECK(st == JACLIP_ERR_FORMAT && strstr(err.msg, "checksum"), "corrupt: %s", err.msg);
    jc_tar_close(&r);

    /* 4. The real CIFAR-10 test shard in CLIP_benchmark layout: 10000 samples of jpg + cls. */
    char root[600];
    snprintf(root, sizeof root, "%s/datasets/cifar10", test_shared());
    char **shards;
    int ns;
    REQUIRE(jc_wds_split_shards(root, "test", &shards, &ns, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(ns == 1, "nshards %d", ns);
    REQUIRE(jc_tar_open(shards[0], &r, &err) == JACLIP_OK, "%s", err.msg);
    int count = 0, good = 0;
    for (;;) {
        if (jc_wds_next(&r, &s, &end, &err) != JACLIP_OK || end) break;
        count++;
        const jc_wds_field *img = jc_wds_image(&s), *cls = jc_wds_get(&s, "cls");
        good += img && cls && img->size > 2 && img->data[0] == 0xFF && img->data[1] == 0xD8;
    }
    CHECK(count == 10000 && good == 10000, "cifar10 test: %d samples, %d good", count, good);
    jc_tar_close(&r);
    jc_free_strings(shards, ns);
    CHECK(jc_wds_split_shards(root, "nosuchsplit", &shards, &ns, &err) == JACLIP_ERR_IO && strstr(err.msg, "nosuchsplit"),
          "missing split: %s", err.msg);
    return test_done();
}
