/* dup_pattern.c -- another name for the pattern "test:*" that tp_topic.so already serves:
 * the loader must refuse it. */
#include <statechannel/handler.h>

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "dup_pattern",
    .pattern = "test:*",
};
