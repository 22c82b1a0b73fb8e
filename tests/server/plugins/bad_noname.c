/* bad_noname.c -- a descriptor without a name: the loader must refuse it. */
#include <statechannel/handler.h>

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .pattern = "noname:*",
};
