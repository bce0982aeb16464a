/* test_shape.c - output-size arithmetic and status names. */
#include <string.h>
#include "mt/mt.h"
#include "mt_test.h"

int main(void)
{
    /* The tutorial's 4x4 input: 2x2 kernel, stride 2, padding 0 -> 2; padding 1 -> 3. */
    MT_EXPECT(mt_conv_out_size(4, 2, 2, 0, 1) == 2);
    MT_EXPECT(mt_conv_out_size(4, 2, 2, 2, 1) == 3);
    /* LeNet-5: 32 -5x5-> 28 -pool2-> 14 -5x5-> 10 -pool2-> 5 */
    MT_EXPECT(mt_conv_out_size(32, 5, 1, 0, 1) == 28);
    MT_EXPECT(mt_pool_out_size(28, 2, 2, 0, 0, 0) == 14);
    MT_EXPECT(mt_conv_out_size(14, 5, 1, 0, 1) == 10);
    /* dilation 2 turns a 3-tap kernel into a 5-wide one */
    MT_EXPECT(mt_conv_out_size(7, 3, 1, 0, 2) == 3);
    /* invalid arguments and windows that do not fit give -1 */
    MT_EXPECT(mt_conv_out_size(2, 3, 1, 0, 1) == -1);
    MT_EXPECT(mt_conv_out_size(4, 3, 0, 0, 1) == -1);
    MT_EXPECT(mt_conv_out_size(4, 3, 1, -1, 1) == -1);
    /* ceil_mode: 5 wide, kernel 2, stride 2 -> 2 (floor) or 3 (ceil) */
    MT_EXPECT(mt_pool_out_size(5, 2, 2, 0, 0, 0) == 2);
    MT_EXPECT(mt_pool_out_size(5, 2, 2, 0, 0, 1) == 3);
    /* ceil_mode never starts a window in the end padding: in 3, k 2, s 2, pad 1
     * would give 3 windows, the last starting at padded index 4 = end padding. */
    MT_EXPECT(mt_pool_out_size(3, 2, 2, 1, 1, 1) == 2);
    MT_EXPECT(mt_pool_out_size(4, 2, 2, 1, 1, 1) == 3);
    MT_EXPECT(strcmp(mt_status_str(MT_OK), "ok") == 0);
    MT_EXPECT(strcmp(mt_status_str(MT_ERR_ARENA), "arena too small") == 0);
    return mt_test_summary("test_shape");
}
