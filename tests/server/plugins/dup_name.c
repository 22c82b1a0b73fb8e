/* dup_name.c -- reuses the name "tp_topic" with another pattern: a duplicate the loader must
 * refuse (it is loaded next to tp_topic.so). */
#include <statechannel/handler.h>

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "tp_topic",
    .pattern = "other:*",
};
