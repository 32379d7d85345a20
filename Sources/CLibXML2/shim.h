#ifndef FWX_CLIBXML2_SHIM_H
#define FWX_CLIBXML2_SHIM_H

// Debian's libxml2 is built with ICU; its encoding.h would pull Debian's ICU headers, which clash with
// Foundation's bundled ICU in clean builds. FWX never uses libxml2's ICU conversions.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlIO.h>
#include <libxml/c14n.h>
#include <libxml/xpath.h>

#include <malloc.h>

/// Makes glibc's malloc grow its heaps `bytes` at a time (M_TOP_PAD) instead of 128 KiB; 1 on success.
static inline int CLibXML2_setMallocTopPad(int bytes) { return mallopt(M_TOP_PAD, bytes); }

/// xmlFree is a global function-pointer variable, which Swift 6 refuses as not concurrency-safe.
static inline void CLibXML2_free(void *pointer) { xmlFree(pointer); }

/// Plugs streaming XSD validation into a parser context's SAX handler (xmlSchemaValidateStream does the same).
static inline xmlSchemaSAXPlugPtr CLibXML2_plugSchema(xmlSchemaValidCtxtPtr validation, xmlParserCtxtPtr parser) {
    return xmlSchemaSAXPlug(validation, &parser->sax, &parser->userData);
}

/// The parser's current line (1-based), or 0 when there is no input.
static inline int CLibXML2_currentLine(xmlParserCtxtPtr parser) {
    return (parser != NULL && parser->input != NULL) ? parser->input->line : 0;
}

/// The parser's current column (1-based), or 0 when there is no input.
static inline int CLibXML2_currentColumn(xmlParserCtxtPtr parser) {
    return (parser != NULL && parser->input != NULL) ? parser->input->col : 0;
}

/// Bytes consumed so far by the parser (for progress reporting).
static inline long CLibXML2_consumed(xmlParserCtxtPtr parser) {
    if (parser == NULL || parser->input == NULL) return 0;
    return (long)parser->input->consumed + (long)(parser->input->cur - parser->input->base);
}

/// The user pointer stored in a parser context.
static inline void *CLibXML2_parserPrivate(void *parser) {
    return parser == NULL ? NULL : ((xmlParserCtxtPtr)parser)->_private;
}

/// Whether the parser is still well-formed so far.
static inline int CLibXML2_wellFormed(xmlParserCtxtPtr parser) { return parser->wellFormed; }

/// A no-op generic error handler: libxml2 must never print to stderr on FWX's behalf.
static inline void CLibXML2_silentGenericError(void *context, const char *message, ...) {
    (void)context; (void)message;
}

/// Routes libxml2's generic (unstructured) error output of the calling thread to nowhere.
static inline void CLibXML2_silenceGenericErrors(void) {
    xmlSetGenericErrorFunc(NULL, CLibXML2_silentGenericError);
}


/// Line and column (1-based) of the '<' that opened the start tag the parser is in (called from startElementNs,
/// when the parser stands on the tag's closing '>' or '/>'). Falls back to the current position.
static inline void CLibXML2_startTagPosition(xmlParserCtxtPtr parser, int *line, int *column) {
    *line = CLibXML2_currentLine(parser);
    *column = CLibXML2_currentColumn(parser);
    if (parser == NULL || parser->input == NULL || parser->input->cur == NULL || parser->input->base == NULL) return;
    const xmlChar *cur = parser->input->cur;
    const xmlChar *base = parser->input->base;
    const xmlChar *p = cur;
    int newlines = 0;
    while (p > base && *p != '<') {
        p--;
        if (*p == '\n') newlines++;
    }
    if (*p != '<') return;
    if (newlines == 0) {
        *column = *column - (int)(cur - p);
        if (*column < 1) *column = 1;
        return;
    }
    *line = *line - newlines;
    const xmlChar *q = p;
    while (q > base && *(q - 1) != '\n') q--;
    *column = (q == base && parser->input->consumed > 0) ? 0 : (int)(p - q) + 1;
}

/// XML_SAX2_MAGIC does not fit Swift's import of integer macros.
static inline unsigned int CLibXML2_sax2Magic(void) { return XML_SAX2_MAGIC; }

/// Options for every FWX parse: no network, no DTD loading, no entity substitution, no XInclude, no huge mode;
/// line numbers above 65535 kept.
static inline int CLibXML2_hardenedOptions(void) {
    return XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOCDATA;
}

#endif
