/* test_npy.c — .npy round trip, header validation, atomic writes and fp16 conversion. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "testutil.h"

int main(void)
{
    const char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/a.npy", dir);
    float data[6] = {1, 2, 3, 4, 5, -6.5f};
    int64_t shape[2] = {2, 3};
    jaclip_err err = {0};
    CHECK(jc_npy_write(path, "<f4", shape, 2, data, &err) == JACLIP_OK, "%s", err.msg);
    jc_npy n;
    REQUIRE(jc_npy_map(path, &n, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(n.ndim == 2 && n.shape[0] == 2 && n.shape[1] == 3, "shape");
    CHECK(strcmp(n.descr, "<f4") == 0, "descr %s", n.descr);
    CHECK(memcmp(n.data, data, sizeof data) == 0, "data");
    jc_npy_unmap(&n);

    /* numpy itself must read what we write (independent check), when numpy is installed */
    if (test_system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") == 0) {
        CHECK(test_system("/usr/bin/python3 -c \"import numpy as np; a=np.load('%s'); "
                          "assert a.shape==(2,3) and a.dtype==np.float32 and a[1,2]==-6.5\"", path) == 0,
              "numpy cannot read our .npy");
    }

    /* truncated file: clear error */
    snprintf(path, sizeof path, "%s/trunc.npy", dir);
    {
        char hdr[128];
        FILE *f = fopen(path, "wb");
        int k = snprintf(hdr, sizeof hdr, "\x93NUMPY\x01%c%c{'descr': '<f4', 'fortran_order': False, 'shape': (10, 4), }\n", 70, 0);
        fwrite(hdr, 1, (size_t)k, f);
        fwrite(data, 4, 3, f);
        fclose(f);
    }
    CHECK(jc_npy_map(path, &n, &err) == JACLIP_ERR_FORMAT, "truncated npy accepted");
    CHECK(strstr(err.msg, "trunc.npy") != NULL, "message names the file: %s", err.msg);

    /* atomic file: abort leaves nothing */
    snprintf(path, sizeof path, "%s/never.bin", dir);
    jc_atomic_file af;
    CHECK(jc_atomic_open(path, &af, &err) == JACLIP_OK, "%s", err.msg);
    fputs("partial", af.f);
    jc_atomic_abort(&af);
    CHECK(access(path, F_OK) != 0, "aborted atomic file exists");

    /* fp16 */
    float vals[] = {0.f, 1.f, -2.5f, 65504.f, 6.1035156e-05f, 5.9604645e-08f, 0.1f};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        float r = jc_f16_to_f32(jc_f32_to_f16(vals[i]));
        CHECK(fabsf(r - vals[i]) <= fabsf(vals[i]) * 1e-3f, "fp16 round trip %g -> %g", vals[i], r);
    }
    CHECK(jc_f32_to_f16(1.0f) == 0x3c00, "1.0 -> 0x3c00");
    CHECK(jc_bf16_to_f32(0x3f80) == 1.0f, "bf16 1.0");
    return test_done();
}
