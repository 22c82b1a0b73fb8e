/*
 * tls_compat.c -- libstatechannel-tls.so: what lets Debian's civetweb 1.15 serve TLS with
 * OpenSSL 3, loaded by ws.c only when --tls-cert is given.
 *
 * civetweb does not link OpenSSL: it dlopen()s "libssl.so" and "libcrypto.so" at start and
 * resolves a table of functions with dlsym(). Debian's build targets the OpenSSL 1.1 API, and
 * one function of its table, SSL_get_peer_certificate, no longer exists in OpenSSL 3 (it
 * became a macro for SSL_get1_peer_certificate). civetweb does not check the table, and calls
 * that NULL pointer after every TLS handshake: the first https/wss client crashes the server
 * (reproduced here; the other 60 symbols it uses all exist in libssl.so.3/libcrypto.so.3).
 *
 * The fix, without patching civetweb: this library's SONAME is "libssl.so", it depends on
 * libssl.so.3, and ws.c dlopen()s it (RTLD_GLOBAL) before mg_start(). glibc's dlopen("libssl.so")
 * then finds this already-loaded object by its SONAME, and civetweb's dlsym() on it searches
 * this library first (SSL_get_peer_certificate, defined below with the 1.1 meaning: a new
 * reference that the caller frees, which civetweb does) and then its dependency libssl.so.3
 * for everything else.
 *
 * It also configures the server's SSL_CTX from civetweb's init_ssl callback (ws.c): the
 * certificate chain and the private key from separate files (civetweb alone wants both in one
 * file), a key/certificate match check, and TLS 1.2 as the oldest protocol.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>

#undef SSL_get_peer_certificate

/* The build hides symbols by default; these two are this library's interface. */
#define SC_TLS_EXPORT __attribute__((visibility("default")))

/* The 1.1-era name civetweb resolves. */
SC_TLS_EXPORT X509 *SSL_get_peer_certificate(const SSL *s);
SC_TLS_EXPORT X509 *SSL_get_peer_certificate(const SSL *s) { return SSL_get1_peer_certificate(s); }

SC_TLS_EXPORT int sc_tls_configure(void *ssl_ctx, const char *cert_file, const char *key_file,
                                   char *err, size_t errcap);

/* Loads cert_file (PEM, leaf first, then intermediates) and key_file (PEM) into ssl_ctx.
 * Returns 0, or -1 with the failing step and OpenSSL's reason in err. */
int sc_tls_configure(void *ssl_ctx, const char *cert_file, const char *key_file, char *err,
                     size_t errcap)
{
    SSL_CTX *ctx = ssl_ctx;
    const char *step = NULL;
    ERR_clear_error();
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
        step = "cannot require TLS 1.2";
    else if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        step = "cannot load the certificate (PEM) from --tls-cert";
    else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
        step = "cannot use the private key (PEM) from --tls-key";
    else if (SSL_CTX_check_private_key(ctx) != 1)
        step = "the private key does not match the certificate";
    if (step == NULL)
        return 0;
    unsigned long e = ERR_get_error();
    snprintf(err, errcap, "%s%s%s", step, e ? ": " : "", e ? ERR_reason_error_string(e) : "");
    return -1;
}
