#ifndef FWX_CXMLSEC_SHIM_H
#define FWX_CXMLSEC_SHIM_H

// SwiftPM drops the -D flags pkg-config gives for xmlsec1-openssl; they change struct layouts and symbol names,
// so they are defined here, before any xmlsec header. A test compares them with `pkg-config --cflags`.
#ifndef XMLSEC_CRYPTO_OPENSSL
#define XMLSEC_CRYPTO_OPENSSL 1
#endif
#ifndef XMLSEC_NO_SIZE_T
#define XMLSEC_NO_SIZE_T 1
#endif
#ifndef XMLSEC_NO_CRYPTO_DYNAMIC_LOADING
#define XMLSEC_NO_CRYPTO_DYNAMIC_LOADING 1
#endif
#ifndef XMLSEC_OPENSSL3_ENGINES
#define XMLSEC_OPENSSL3_ENGINES 1
#endif
#ifndef XMLSEC_NO_GOST
#define XMLSEC_NO_GOST 1
#endif
#ifndef XMLSEC_NO_GOST2012
#define XMLSEC_NO_GOST2012 1
#endif
#ifndef __XMLSEC_FUNCTION__
#define __XMLSEC_FUNCTION__ __func__
#endif

#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED

#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/c14n.h>
#include <libxml/xmlsave.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/base64.h>
#include <xmlsec/templates.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/keys.h>
#include <xmlsec/openssl/app.h>
#include <xmlsec/openssl/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/openssl/x509.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>

// MARK: Errors. xmlsec reports through one global callback without user data; the messages of the calling thread
// are kept in a thread-local buffer that Swift reads right after each call (and clears before it).

#define CXMLSec_errorBufferSize 2048
static inline char *CXMLSec_errorBuffer(void) {
    static __thread char buffer[CXMLSec_errorBufferSize];
    return buffer;
}

static inline void CXMLSec_errorCallback(const char *file, int line, const char *func, const char *errorObject,
                                         const char *errorSubject, int reason, const char *msg) {
    (void)file; (void)line; (void)func; (void)errorObject;
    char *errors = CXMLSec_errorBuffer();
    size_t used = strlen(errors);
    if (used > CXMLSec_errorBufferSize - 200) return;
    snprintf(errors + used, CXMLSec_errorBufferSize - used, "%s%s: %s (reason %d)",
             used > 0 ? "; " : "", errorSubject ? errorSubject : "xmlsec", msg ? msg : "", reason);
}

static inline void CXMLSec_clearErrors(void) { CXMLSec_errorBuffer()[0] = 0; ERR_clear_error(); }
static inline const char *CXMLSec_errors(void) { return CXMLSec_errorBuffer(); }

/// Initialises xmlsec with its OpenSSL backend once per process; 0 on success.
static inline int CXMLSec_initialise(void) {
    // First as well: messages of a failing initialisation must not reach stderr either.
    xmlSecErrorsSetCallback(CXMLSec_errorCallback);
    if (xmlSecInit() < 0) return -1;
    if (xmlSecCheckVersion() != 1) return -2;
    if (xmlSecCryptoAppInit(NULL) < 0) return -3;
    if (xmlSecCryptoInit() < 0) return -4;
    // Last: initialisation installs xmlsec's default callback, which prints to stderr.
    xmlSecErrorsSetCallback(CXMLSec_errorCallback);
    return 0;
}

/// sizeof(xmlSecSize), to check at start-up that the defines above match the library.
static inline size_t CXMLSec_sizeOfSize(void) { return sizeof(xmlSecSize); }

/// xmlFree is a global function-pointer variable, which Swift 6 refuses as not concurrency-safe.
static inline void CXMLSec_xmlFree(void *pointer) { xmlFree(pointer); }

/// Parser options for signed documents: no network, no DTD loading, no entity substitution, big line numbers.
static inline int CXMLSec_parseOptions(void) { return XML_PARSE_NONET | XML_PARSE_BIG_LINES; }

/// Elements named `name` in namespace `ns` in the subtree of `node`, counted in C (a Swift walk over a DOM of a
/// million nodes costs more than the signature itself); the first one found is stored in `first`.
static inline int CXMLSec_countElements(xmlNodePtr node, const char *name, const char *ns, xmlNodePtr *first) {
    int count = 0;
    xmlNodePtr current = node;
    *first = NULL;
    while (current != NULL) {
        if (current->type == XML_ELEMENT_NODE && xmlStrEqual(current->name, BAD_CAST name)
            && current->ns != NULL && xmlStrEqual(current->ns->href, BAD_CAST ns)) {
            if (count == 0) *first = current;
            count++;
        }
        if (current->children != NULL && current->type == XML_ELEMENT_NODE) {
            current = current->children;
            continue;
        }
        while (current != NULL && current != node && current->next == NULL) current = current->parent;
        if (current == NULL || current == node) break;
        current = current->next;
    }
    return count;
}

// MARK: Transform ids (function-like macros in xmlsec).

static inline xmlSecTransformId CXMLSec_exclC14N(void) { return xmlSecTransformExclC14NId; }
static inline xmlSecTransformId CXMLSec_enveloped(void) { return xmlSecTransformEnvelopedId; }
static inline xmlSecTransformId CXMLSec_sha256(void) { return xmlSecTransformSha256Id; }
static inline xmlSecTransformId CXMLSec_rsaSha256(void) { return xmlSecTransformRsaSha256Id; }
static inline xmlSecTransformId CXMLSec_ecdsaSha256(void) { return xmlSecTransformEcdsaSha256Id; }
static inline xmlSecKeyDataId CXMLSec_x509KeyDataId(void) { return xmlSecKeyDataX509Id; }

static inline const xmlChar *CXMLSec_dsigNamespace(void) { return xmlSecDSigNs; }

// MARK: OpenSSL helpers for macros and stacks.

static inline STACK_OF(X509) *CXMLSec_newCertificateStack(void) { return sk_X509_new_null(); }
static inline int CXMLSec_pushCertificate(STACK_OF(X509) *stack, X509 *certificate) {
    return sk_X509_push(stack, certificate);
}
static inline void CXMLSec_freeCertificateStack(STACK_OF(X509) *stack) { sk_X509_pop_free(stack, X509_free); }

/// Reads every certificate and CRL in a PEM buffer into the given stacks (either may be NULL); returns how many.
static inline int CXMLSec_readPEMObjects(const void *bytes, int length, STACK_OF(X509) *certificates,
                                         STACK_OF(X509_CRL) *crls) {
    BIO *bio = BIO_new_mem_buf(bytes, length);
    if (bio == NULL) return -1;
    STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (infos == NULL) return -1;
    int count = 0;
    for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *info = sk_X509_INFO_value(infos, i);
        if (info->x509 != NULL && certificates != NULL) {
            X509_up_ref(info->x509);
            sk_X509_push(certificates, info->x509);
            count++;
        }
        if (info->crl != NULL && crls != NULL) {
            X509_CRL_up_ref(info->crl);
            sk_X509_CRL_push(crls, info->crl);
            count++;
        }
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    return count;
}

static inline STACK_OF(X509_CRL) *CXMLSec_newCRLStack(void) { return sk_X509_CRL_new_null(); }
static inline int CXMLSec_pushCRL(STACK_OF(X509_CRL) *stack, X509_CRL *crl) { return sk_X509_CRL_push(stack, crl); }
static inline void CXMLSec_freeCRLStack(STACK_OF(X509_CRL) *stack) { sk_X509_CRL_pop_free(stack, X509_CRL_free); }
static inline int CXMLSec_certificateCount(STACK_OF(X509) *stack) { return sk_X509_num(stack); }
static inline X509 *CXMLSec_certificateAt(STACK_OF(X509) *stack, int index) { return sk_X509_value(stack, index); }
static inline int CXMLSec_crlCount(STACK_OF(X509_CRL) *stack) { return sk_X509_CRL_num(stack); }
static inline X509_CRL *CXMLSec_crlAt(STACK_OF(X509_CRL) *stack, int index) { return sk_X509_CRL_value(stack, index); }

/// Verifies `leaf` against trusted roots and CRLs, with `untrusted` intermediates, at time `at` (0 = now), for
/// `purpose` (an X509_PURPOSE_* id such as X509_PURPOSE_SSL_CLIENT, which checks key usage and extended key usage
/// along the chain; 0 for none). Returns the OpenSSL verification error (X509_V_OK when the chain is good) or -1
/// on set-up failure.
static inline int CXMLSec_verifyChain(X509 *leaf, STACK_OF(X509) *trusted, STACK_OF(X509) *untrusted,
                                      STACK_OF(X509_CRL) *crls, long long at, int checkCRL, int checkAllCRLs,
                                      int purpose) {
    X509_STORE *store = X509_STORE_new();
    if (store == NULL) return -1;
    for (int i = 0; i < sk_X509_num(trusted); i++) X509_STORE_add_cert(store, sk_X509_value(trusted, i));
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (ctx == NULL) { X509_STORE_free(store); return -1; }
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        X509_STORE_CTX_free(ctx); X509_STORE_free(store); return -1;
    }
    unsigned long flags = X509_V_FLAG_X509_STRICT;
    if (checkCRL) {
        X509_STORE_CTX_set0_crls(ctx, crls);
        flags |= X509_V_FLAG_CRL_CHECK;
        if (checkAllCRLs) flags |= X509_V_FLAG_CRL_CHECK_ALL;
    }
    X509_STORE_CTX_set_flags(ctx, flags);
    if (purpose != 0 && X509_STORE_CTX_set_purpose(ctx, purpose) != 1) {
        X509_STORE_CTX_free(ctx); X509_STORE_free(store); return -1;
    }
    if (at != 0) X509_STORE_CTX_set_time(ctx, 0, (time_t)at);
    int ok = X509_verify_cert(ctx);
    int error = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return error;
}

/// Whether the CRL list holds a CRL issued by the issuer of `certificate`.
static inline int CXMLSec_hasCRLFor(STACK_OF(X509_CRL) *crls, X509 *certificate) {
    for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
        if (X509_NAME_cmp(X509_CRL_get_issuer(sk_X509_CRL_value(crls, i)), X509_get_issuer_name(certificate)) == 0) {
            return 1;
        }
    }
    return 0;
}

/// Whether `certificate` is valid at `at` (seconds since 1970): 0 valid, 1 expired, -1 not yet valid.
static inline int CXMLSec_validityAt(X509 *certificate, long long at) {
    time_t moment = (time_t)at;
    if (X509_cmp_time(X509_get0_notBefore(certificate), &moment) > 0) return -1;
    if (X509_cmp_time(X509_get0_notAfter(certificate), &moment) < 0) return 1;
    return 0;
}

/// Key usage bits of a certificate, or -1 when it has no key usage extension.
static inline long CXMLSec_keyUsage(X509 *certificate) {
    if ((X509_get_extension_flags(certificate) & EXFLAG_KUSAGE) == 0) return -1;
    return (long)X509_get_key_usage(certificate);
}
static inline long CXMLSec_keyUsageDigitalSignature(void) { return KU_DIGITAL_SIGNATURE; }
static inline long CXMLSec_keyUsageNonRepudiation(void) { return KU_NON_REPUDIATION; }
static inline int CXMLSec_purposeTLSClient(void) { return X509_PURPOSE_SSL_CLIENT; }
static inline int CXMLSec_invalidPurpose(void) { return X509_V_ERR_INVALID_PURPOSE; }

/// Whether `issuer` issued `subject` (names and key identifiers match).
static inline int CXMLSec_issued(X509 *issuer, X509 *subject) { return X509_check_issued(issuer, subject) == X509_V_OK; }

/// A subject attribute (e.g. NID_countryName) into `buffer`; length or -1.
static inline int CXMLSec_subjectField(X509 *certificate, int nid, char *buffer, int size) {
    return X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), nid, buffer, size);
}
static inline int CXMLSec_nidCountry(void) { return NID_countryName; }
static inline int CXMLSec_nidOrganisation(void) { return NID_organizationName; }
static inline int CXMLSec_nidCommonName(void) { return NID_commonName; }

/// SHA-256 of the DER encoding; 0 on success.
static inline int CXMLSec_fingerprint(X509 *certificate, unsigned char out[32]) {
    unsigned int length = 0;
    return X509_digest(certificate, EVP_sha256(), out, &length) == 1 && length == 32 ? 0 : -1;
}

/// The DER encoding of a certificate (caller frees with OPENSSL_free via CXMLSec_freeOpenSSL).
static inline int CXMLSec_certificateDER(X509 *certificate, unsigned char **out) { return i2d_X509(certificate, out); }
static inline void CXMLSec_freeOpenSSL(void *pointer) { OPENSSL_free(pointer); }
/// Whether two CRLs have the same issuer.
static inline int CXMLSec_crlSameIssuer(X509_CRL *a, X509_CRL *b) {
    return X509_NAME_cmp(X509_CRL_get_issuer(a), X509_CRL_get_issuer(b)) == 0;
}
/// Compares the lastUpdate times of two CRLs: -1, 0 or 1 as `a` is older, as old or newer than `b`; -2 on error.
static inline int CXMLSec_crlCompareLastUpdate(X509_CRL *a, X509_CRL *b) {
    return ASN1_TIME_compare(X509_CRL_get0_lastUpdate(a), X509_CRL_get0_lastUpdate(b));
}
/// The issuer of a CRL as one line (/C=NL/O=…/CN=…) into `buffer`.
static inline void CXMLSec_crlIssuer(X509_CRL *crl, char *buffer, int size) {
    X509_NAME_oneline(X509_CRL_get_issuer(crl), buffer, size);
}

/// The DER encoding of a CRL (caller frees with CXMLSec_freeOpenSSL).
static inline int CXMLSec_crlDER(X509_CRL *crl, unsigned char **out) { return i2d_X509_CRL(crl, out); }
static inline X509 *CXMLSec_certificateFromDER(const unsigned char *bytes, long length) {
    return d2i_X509(NULL, &bytes, length);
}

/// Public key algorithm and size of a certificate: type (EVP_PKEY_RSA, EVP_PKEY_EC …) and bits.
static inline int CXMLSec_publicKeyInfo(X509 *certificate, int *bits) {
    EVP_PKEY *key = X509_get0_pubkey(certificate);
    if (key == NULL) return -1;
    *bits = EVP_PKEY_get_bits(key);
    return EVP_PKEY_get_base_id(key);
}
static inline int CXMLSec_keyTypeRSA(void) { return EVP_PKEY_RSA; }
static inline int CXMLSec_keyTypeEC(void) { return EVP_PKEY_EC; }

/// Whether an xmlsec key's private key belongs to `certificate` (1), does not (0), or cannot be told (-1).
static inline int CXMLSec_keyMatchesCertificate(xmlSecKeyPtr key, X509 *certificate) {
    xmlSecKeyDataPtr value = xmlSecKeyGetValue(key);
    if (value == NULL) return -1;
    EVP_PKEY *pkey = xmlSecOpenSSLEvpKeyDataGetEvp(value);
    if (pkey == NULL) return -1;
    int ok = X509_check_private_key(certificate, pkey);
    ERR_clear_error();
    return ok == 1 ? 1 : 0;
}

/// An xmlsec key holding the public key of `certificate` (for verification with a key chosen by FWX).
static inline xmlSecKeyPtr CXMLSec_keyFromCertificate(X509 *certificate) {
    EVP_PKEY *public = X509_get_pubkey(certificate);
    if (public == NULL) return NULL;
    xmlSecKeyDataPtr data = xmlSecOpenSSLEvpKeyAdopt(public);
    if (data == NULL) { EVP_PKEY_free(public); return NULL; }
    xmlSecKeyPtr key = xmlSecKeyCreate();
    if (key == NULL) { xmlSecKeyDataDestroy(data); return NULL; }
    if (xmlSecKeySetValue(key, data) < 0) { xmlSecKeyDataDestroy(data); xmlSecKeyDestroy(key); return NULL; }
    return key;
}


// MARK: Trust additions (revocation that fails closed, CRL distribution points, certificate roles)

/// Verify callback that lets a CRL past its nextUpdate count as valid (trust.staleCRL: warn); every other error stands.
static int CXMLSec_tolerateStaleCRL(int ok, X509_STORE_CTX *ctx) {
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CRL_HAS_EXPIRED) {
        X509_STORE_CTX_set_error(ctx, X509_V_OK);
        return 1;
    }
    return ok;
}

/// As CXMLSec_verifyChain, and with `tolerateStaleCRL` a CRL past its nextUpdate is still used (its revocations hold).
static inline int CXMLSec_verifyChainWithOptions(X509 *leaf, STACK_OF(X509) *trusted, STACK_OF(X509) *untrusted,
                                                 STACK_OF(X509_CRL) *crls, long long at, int checkCRL,
                                                 int checkAllCRLs, int purpose, int tolerateStaleCRL) {
    X509_STORE *store = X509_STORE_new();
    if (store == NULL) return -1;
    for (int i = 0; i < sk_X509_num(trusted); i++) X509_STORE_add_cert(store, sk_X509_value(trusted, i));
    if (tolerateStaleCRL) X509_STORE_set_verify_cb(store, CXMLSec_tolerateStaleCRL);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (ctx == NULL) { X509_STORE_free(store); return -1; }
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        X509_STORE_CTX_free(ctx); X509_STORE_free(store); return -1;
    }
    unsigned long flags = X509_V_FLAG_X509_STRICT;
    if (checkCRL) {
        X509_STORE_CTX_set0_crls(ctx, crls);
        flags |= X509_V_FLAG_CRL_CHECK;
        if (checkAllCRLs) flags |= X509_V_FLAG_CRL_CHECK_ALL;
    }
    X509_STORE_CTX_set_flags(ctx, flags);
    if (purpose != 0 && X509_STORE_CTX_set_purpose(ctx, purpose) != 1) {
        X509_STORE_CTX_free(ctx); X509_STORE_free(store); return -1;
    }
    if (at != 0) X509_STORE_CTX_set_time(ctx, 0, (time_t)at);
    int ok = X509_verify_cert(ctx);
    int error = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return error;
}

/// The URIs of a certificate's CRL distribution points (full names only), one per line, into `buffer`
/// (NUL-terminated, cut at `size`). Returns how many, 0 without the extension, -1 when it cannot be decoded.
static inline int CXMLSec_crlDistributionPoints(X509 *certificate, char *buffer, int size) {
    if (size > 0) buffer[0] = 0;
    int critical = 0;
    STACK_OF(DIST_POINT) *points = X509_get_ext_d2i(certificate, NID_crl_distribution_points, &critical, NULL);
    if (points == NULL) { ERR_clear_error(); return critical == -1 ? 0 : -1; }
    int count = 0, used = 0;
    for (int i = 0; i < sk_DIST_POINT_num(points); i++) {
        DIST_POINT *point = sk_DIST_POINT_value(points, i);
        if (point->distpoint == NULL || point->distpoint->type != 0) continue;
        GENERAL_NAMES *names = point->distpoint->name.fullname;
        for (int j = 0; j < sk_GENERAL_NAME_num(names); j++) {
            GENERAL_NAME *name = sk_GENERAL_NAME_value(names, j);
            if (name->type != GEN_URI) continue;
            const unsigned char *text = ASN1_STRING_get0_data(name->d.uniformResourceIdentifier);
            int length = ASN1_STRING_length(name->d.uniformResourceIdentifier);
            if (used + length + 2 > size) continue;
            memcpy(buffer + used, text, (size_t)length);
            used += length;
            buffer[used++] = '\n';
            buffer[used] = 0;
            count++;
        }
    }
    sk_DIST_POINT_pop_free(points, DIST_POINT_free);
    return count;
}

/// An ASN1_TIME as seconds since 1970 into `out`; 0 on success, -1 when absent or unreadable.
static inline int CXMLSec_asn1TimeSeconds(const ASN1_TIME *time, long long *out) {
    if (time == NULL) return -1;
    struct tm parts;
    memset(&parts, 0, sizeof parts);
    if (ASN1_TIME_to_tm(time, &parts) != 1) return -1;
    *out = (long long)timegm(&parts);
    return 0;
}
/// A CRL's nextUpdate (seconds since 1970); -1 when it has none.
static inline int CXMLSec_crlNextUpdate(X509_CRL *crl, long long *out) {
    return CXMLSec_asn1TimeSeconds(X509_CRL_get0_nextUpdate(crl), out);
}
/// A CRL's lastUpdate (seconds since 1970).
static inline int CXMLSec_crlLastUpdate(X509_CRL *crl, long long *out) {
    return CXMLSec_asn1TimeSeconds(X509_CRL_get0_lastUpdate(crl), out);
}

/// Whether `ca` issued `crl`: the CRL's issuer is the CA's subject and its signature verifies with the CA's key.
static inline int CXMLSec_crlIssuedBy(X509_CRL *crl, X509 *ca) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0) return 0;
    EVP_PKEY *key = X509_get0_pubkey(ca);
    if (key == NULL) return 0;
    int ok = X509_CRL_verify(crl, key);
    ERR_clear_error();
    return ok == 1;
}
/// Whether the CRL's issuer name is the certificate's subject name (the CA whose CRL it says it is).
static inline int CXMLSec_crlNamesSubjectOf(X509_CRL *crl, X509 *ca) {
    return X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0;
}

/// A CRL from DER or PEM bytes (what a distribution point serves); NULL when it is neither.
static inline X509_CRL *CXMLSec_crlFromBytes(const unsigned char *bytes, long length) {
    const unsigned char *cursor = bytes;
    X509_CRL *crl = d2i_X509_CRL(NULL, &cursor, length);
    if (crl != NULL && cursor == bytes + length) return crl;
    X509_CRL_free(crl);
    ERR_clear_error();
    BIO *bio = BIO_new_mem_buf(bytes, (int)length);
    if (bio == NULL) return NULL;
    crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    return crl;
}

/// The subject of a certificate as one line (/C=NL/O=…/CN=…) into `buffer`.
static inline void CXMLSec_subjectLine(X509 *certificate, char *buffer, int size) {
    X509_NAME_oneline(X509_get_subject_name(certificate), buffer, size);
}

/// Whether the certificate's certificatePolicies extension names `oid` (dotted text): 1 yes, 0 no, -1 no extension.
static inline int CXMLSec_hasPolicy(X509 *certificate, const char *oid) {
    int critical = 0;
    CERTIFICATEPOLICIES *policies = X509_get_ext_d2i(certificate, NID_certificate_policies, &critical, NULL);
    if (policies == NULL) { ERR_clear_error(); return -1; }
    int found = 0;
    char text[128];
    for (int i = 0; i < sk_POLICYINFO_num(policies); i++) {
        POLICYINFO *info = sk_POLICYINFO_value(policies, i);
        if (OBJ_obj2txt(text, sizeof text, info->policyid, 1) > 0 && strcmp(text, oid) == 0) { found = 1; break; }
    }
    CERTIFICATEPOLICIES_free(policies);
    return found;
}

/// Whether the certificate's extended key usage allows TLS server authentication (1), does not (0), or the
/// certificate has no extended key usage (-1).
static inline int CXMLSec_allowsTLSServer(X509 *certificate) {
    if ((X509_get_extension_flags(certificate) & EXFLAG_XKUSAGE) == 0) return -1;
    return (X509_get_extended_key_usage(certificate) & XKU_SSL_SERVER) != 0;
}

#endif
