/* fuzz_image.c — libFuzzer entry for the decode + letterbox path (see cmake/image.cmake).
 * The whole input is the encoded image; its length picks EXIF rotation and an output size
 * (224, or a small one to exercise the upscale path), and the pixel limit is 262144 (speed: libFuzzer wants many runs) so that
 * headers announcing huge images are refused instead of exhausting memory. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "jaclip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t rgb[224 * 224 * 3];
    jaclip_image_params p = jaclip_image_default_params();
    p.max_pixels = 1u << 18;
    p.exif_rotate = (int)(size & 1);
    p.image_size = (size & 2) ? 224 : 17;
    jaclip_err err = {0};
    jaclip_status st = jaclip_image_letterbox_mem(data, size, "fuzz", &p, rgb, &err);
    if (st != JACLIP_OK && !err.msg[0]) abort(); /* every failure must explain itself */
    return 0;
}
