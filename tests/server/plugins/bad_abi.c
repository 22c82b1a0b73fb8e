/* bad_abi.c -- a plugin built for another handler ABI: the loader must refuse it. */
#include <statechannel/handler.h>

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    .abi_version = SC_HANDLER_ABI_VERSION + 1,
    .struct_size = sizeof(sc_handler),
    .name = "bad_abi",
    .pattern = "badabi:*",
};
