/* bad_size.c -- a descriptor claiming a larger struct than the server knows (a newer
 * handler.h): the loader must refuse it rather than ignore fields it cannot see. */
#include <statechannel/handler.h>

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    .abi_version = SC_HANDLER_ABI_VERSION,
    .struct_size = sizeof(sc_handler) + 64,
    .name = "bad_size",
    .pattern = "badsize:*",
};
