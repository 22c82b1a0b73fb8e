/* bad_small.c -- a descriptor whose struct_size is smaller than the version-1 descriptor (a
 * corrupt or hand-rolled header): the loader must refuse it instead of reading past it. */
#include <statechannel/handler.h>

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    .abi_version = SC_HANDLER_ABI_VERSION,
    .struct_size = 8,
    .name = "bad_small",
    .pattern = "badsmall:*",
};
