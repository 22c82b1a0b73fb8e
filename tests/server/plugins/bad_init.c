/* bad_init.c -- a plugin whose init fails: the server must unload it and refuse to start. */
#include <statechannel/handler.h>

static int bi_init(sc_module *m) { return sc_module_fail(m, "missing configuration XYZ"); }

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "bad_init",
    .pattern = "badinit:*",
    .init = bi_init,
};
