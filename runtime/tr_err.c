/* tr_err.c - names and messages for the runtime's error codes. */
#include "tr_err.h"

static const struct {
    int code;
    const char *name;
    const char *text;
} errors[] = {
    {TR_OK, "OK", "success"},
    {TR_EINVAL, "EINVAL", "invalid argument or malformed input"},
    {TR_ENOMEM, "ENOMEM", "out of memory"},
    {TR_ENOPROC, "ENOPROC", "no live actor under that address"},
    {TR_ETIMEDOUT, "ETIMEDOUT", "timed out or deadline expired"},
    {TR_EFULL, "EFULL", "mailbox full"},
    {TR_EEXIST, "EEXIST", "name already registered"},
    {TR_ECLOSED, "ECLOSED", "system is shutting down"},
    {TR_ETRUNC, "ETRUNC", "input truncated"},
    {TR_ETOOBIG, "ETOOBIG", "value exceeds a limit"},
    {TR_EVERSION, "EVERSION", "unsupported envelope version"},
    {TR_ECRASH, "ECRASH", "actor crashed"},
    {TR_EINIT, "EINIT", "actor init failed"},
    {TR_ESYS, "ESYS", "system call failed"},
    {TR_ECONFIG, "ECONFIG", "bad configuration"},
    {TR_EREMOTE, "EREMOTE", "peer replied with an error"},
    {TR_ELIMIT, "ELIMIT", "resource limit reached"},
    {TR_EUNAVAIL, "EUNAVAIL", "a dependency is unavailable"},
};

const char *tr_strerror(int err)
{
    for (unsigned i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == err)
            return errors[i].text;
    return "unknown error";
}

const char *tr_errname(int err)
{
    for (unsigned i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == err)
            return errors[i].name;
    return "EUNKNOWN";
}
