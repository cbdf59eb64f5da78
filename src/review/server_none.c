// am_review's server in a build without libmicrohttpd: starting it fails
// with the package to install (include/am/review.h).
#include "am/error.h"
#include "am/review.h"

am_server *am_server_start(am_review *rv, const am_server_opts *o) {
    (void)rv;
    (void)o;
    am_seterr("this am was built without libmicrohttpd: install it (apt-get install libmicrohttpd-dev) and make again");
    return NULL;
}

int am_server_port(const am_server *s) { return s ? 0 : -1; }

const char *am_server_token(const am_server *s) { return s ? "" : NULL; }

void am_server_stop(am_server *s) { (void)s; }
