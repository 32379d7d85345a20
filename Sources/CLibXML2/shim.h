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
#include <libxml/uri.h>
#include <libxml/xpath.h>

#include <malloc.h>
#include <string.h>

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

/// A no-op structured error handler, for messages raised outside any FWX parser context (I/O, encodings, C14N).
static inline void CLibXML2_silentStructuredError(void *context, xmlErrorPtr error) { (void)context; (void)error; }

/// Silences both of libxml2's per-thread error outputs of the calling thread. A parser context's own handler
/// (sax->serror, a schema validation context's handler) still comes first.
static inline void CLibXML2_silenceThreadErrors(void) {
    xmlSetGenericErrorFunc(NULL, CLibXML2_silentGenericError);
    xmlSetStructuredErrorFunc(NULL, CLibXML2_silentStructuredError);
}

/// Makes the silent handlers the defaults of every thread libxml2 meets later (its per-thread state is created on
/// first use from these defaults), then silences the calling thread.
static inline void CLibXML2_silenceErrorsByDefault(void) {
    xmlThrDefSetGenericErrorFunc(NULL, CLibXML2_silentGenericError);
    xmlThrDefSetStructuredErrorFunc(NULL, CLibXML2_silentStructuredError);
    CLibXML2_silenceThreadErrors();
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
    return XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOCDATA | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
}

/// The same for the DOM parser behind signatures, which keeps CDATA sections as they are (the tree is written back).
static inline int CLibXML2_hardenedDocumentOptions(void) {
    return XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
}

// MARK: Input pre-scan. libxml2 checks a start tag's attributes for duplicates pairwise (quadratic: one element
// with 1,000,000 attributes kept a core busy for minutes) and reports a DOCTYPE only after reading it. Both parsers
// therefore look at every byte before libxml2 does, with this small state machine, and hand libxml2 only the bytes
// before the first violation. It reads markup only: text and quoted values are skipped, comments, CDATA sections and
// processing instructions are stepped over, so it never mistakes their content for tags.

enum {
    CLibXML2_scanText = 0, CLibXML2_scanOpen, CLibXML2_scanStartTag, CLibXML2_scanValue, CLibXML2_scanEndTag,
    CLibXML2_scanBang, CLibXML2_scanBangDash, CLibXML2_scanComment, CLibXML2_scanCDataOpen, CLibXML2_scanCData,
    CLibXML2_scanPI
};

/// What the pre-scan refused.
enum {
    CLibXML2_scanOK = 0, CLibXML2_scanDoctype = 1, CLibXML2_scanAttributes = 2, CLibXML2_scanTagSize = 3,
    CLibXML2_scanDepth = 4
};

/// The pre-scan's state across chunks. Units are bytes in ASCII-compatible encodings and 16-bit code units in UTF-16
/// (unitSize 2; bigEndian says which byte comes first); a unit above 0x7F stands for any non-ASCII character.
typedef struct {
    int state;
    int unitSize;
    int bigEndian;
    int pendingCount;
    unsigned char pending[2];
    unsigned int quote;
    int run;            // '-' or ']' seen in a row (comments, CDATA), '?' just seen (PI)
    int slash;          // the start tag's last non-space character was '/'
    long long offset;   // units scanned so far
    long long line;     // 1-based
    long long lineStart;// offset of the first unit of the current line
    long long tagStart; // offset of the '<' of the current markup
    long long tagLine;
    long long tagColumn;
    long long attributes;
    long long depth;
    long long maxAttributes;
    long long maxTagUnits;
    long long maxDepth;
    int violation;
} CLibXML2_InputScanner;

static inline void CLibXML2_scannerInit(CLibXML2_InputScanner *s, int unitSize, int bigEndian, long long maxAttributes,
                                        long long maxTagUnits, long long maxDepth) {
    memset(s, 0, sizeof(*s));
    s->unitSize = unitSize == 2 ? 2 : 1;
    s->bigEndian = bigEndian;
    s->line = 1;
    s->maxAttributes = maxAttributes;
    s->maxTagUnits = maxTagUnits;
    s->maxDepth = maxDepth;
}

/// One unit of markup (or the '<' that starts it). Returns a violation or CLibXML2_scanOK.
static inline int CLibXML2_scanStep(CLibXML2_InputScanner *s, unsigned int c) {
    switch (s->state) {
    case CLibXML2_scanText:
        if (c == '<') {
            s->state = CLibXML2_scanOpen;
            s->tagStart = s->offset;
            s->tagLine = s->line;
            s->tagColumn = s->offset - s->lineStart + 1;
        }
        return CLibXML2_scanOK;
    case CLibXML2_scanOpen:
        if (c == '/') { s->state = CLibXML2_scanEndTag; return CLibXML2_scanOK; }
        if (c == '?') { s->state = CLibXML2_scanPI; s->run = 0; return CLibXML2_scanOK; }
        if (c == '!') { s->state = CLibXML2_scanBang; return CLibXML2_scanOK; }
        s->state = CLibXML2_scanStartTag;
        s->attributes = 0;
        s->slash = 0;
        return CLibXML2_scanOK;
    case CLibXML2_scanStartTag:
        if (s->offset - s->tagStart > s->maxTagUnits) return CLibXML2_scanTagSize;
        if (c == '"' || c == '\'') { s->quote = c; s->state = CLibXML2_scanValue; s->slash = 0; return CLibXML2_scanOK; }
        if (c == '=') {
            s->slash = 0;
            return ++s->attributes > s->maxAttributes ? CLibXML2_scanAttributes : CLibXML2_scanOK;
        }
        if (c == '>') {
            s->state = CLibXML2_scanText;
            if (!s->slash && ++s->depth > s->maxDepth) return CLibXML2_scanDepth;
            return CLibXML2_scanOK;
        }
        if (c == '/') s->slash = 1;
        else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') s->slash = 0;
        return CLibXML2_scanOK;
    case CLibXML2_scanValue:
        if (s->offset - s->tagStart > s->maxTagUnits) return CLibXML2_scanTagSize;
        if (c == s->quote) s->state = CLibXML2_scanStartTag;
        return CLibXML2_scanOK;
    case CLibXML2_scanEndTag:
        if (c == '>') {
            s->state = CLibXML2_scanText;
            if (s->depth > 0) s->depth--;
        }
        return CLibXML2_scanOK;
    case CLibXML2_scanBang:
        if (c == '-') { s->state = CLibXML2_scanBangDash; return CLibXML2_scanOK; }
        if (c == '[') { s->state = CLibXML2_scanCDataOpen; return CLibXML2_scanOK; }
        // <!DOCTYPE, <!ENTITY, <!ELEMENT …: declarations, which FWX documents never carry.
        return CLibXML2_scanDoctype;
    case CLibXML2_scanBangDash:
        // "<!-" must go on with "-"; anything else is not well-formed, which libxml2 reports.
        s->state = CLibXML2_scanComment;
        s->run = 0;
        return CLibXML2_scanOK;
    case CLibXML2_scanComment:
        if (c == '-') s->run++;
        else if (c == '>' && s->run >= 2) s->state = CLibXML2_scanText;
        else s->run = 0;
        return CLibXML2_scanOK;
    case CLibXML2_scanCDataOpen:
        if (c == '[') { s->state = CLibXML2_scanCData; s->run = 0; }
        return CLibXML2_scanOK;
    case CLibXML2_scanCData:
        if (c == ']') s->run++;
        else if (c == '>' && s->run >= 2) s->state = CLibXML2_scanText;
        else s->run = 0;
        return CLibXML2_scanOK;
    case CLibXML2_scanPI:
        if (c == '>' && s->run) s->state = CLibXML2_scanText;
        else s->run = (c == '?');
        return CLibXML2_scanOK;
    }
    return CLibXML2_scanOK;
}

/// Scans `count` more bytes. Returns how many of them come before the first violation (all of them when there is
/// none); after a violation `s->violation` says which, and `tagLine`/`tagColumn` where its markup starts (columns
/// count units). Once a violation is found, every later call returns 0.
static inline long CLibXML2_scanInput(CLibXML2_InputScanner *s, const unsigned char *bytes, long count) {
    if (s->violation != CLibXML2_scanOK) return 0;
    long i = 0;
    if (s->unitSize == 1) {
        while (i < count) {
            // The common cases, runs of text and of attribute values: only line ends, the end of the run and (in a
            // value) the tag's length matter. Kept in locals: the input bytes may alias the scanner's fields, so
            // the compiler would otherwise load and store them at every byte.
            if (s->state == CLibXML2_scanText) {
                long long offset = s->offset, line = s->line, lineStart = s->lineStart;
                while (i < count) {
                    unsigned char c = bytes[i];
                    if (c == '<') break;
                    if (c == '\n') { line++; lineStart = offset + 1; }
                    offset++;
                    i++;
                }
                s->offset = offset;
                s->line = line;
                s->lineStart = lineStart;
                if (i == count) break;
                s->state = CLibXML2_scanOpen;
                s->tagStart = offset;
                s->tagLine = line;
                s->tagColumn = offset - lineStart + 1;
                s->offset++;
                i++;
                continue;
            }
            if (s->state == CLibXML2_scanValue) {
                long long offset = s->offset, line = s->line, lineStart = s->lineStart;
                const long long tagStart = s->tagStart, maxTagUnits = s->maxTagUnits;
                const unsigned int quote = s->quote;
                int tooLong = 0;
                while (i < count) {
                    unsigned char c = bytes[i];
                    if (c == quote) break;
                    if (c == '\n') { line++; lineStart = offset + 1; }
                    else if (offset - tagStart > maxTagUnits) { tooLong = 1; break; }
                    offset++;
                    i++;
                }
                s->offset = offset;
                s->line = line;
                s->lineStart = lineStart;
                if (tooLong) { s->violation = CLibXML2_scanTagSize; return i; }
                if (i == count) break;
                // The closing quote: the markup step below.
            } else if (s->state == CLibXML2_scanStartTag || s->state == CLibXML2_scanEndTag) {
                // Names inside a tag: only the characters the markup step acts on end the run.
                const int start = s->state == CLibXML2_scanStartTag;
                long long offset = s->offset, line = s->line, lineStart = s->lineStart;
                const long long tagStart = s->tagStart, maxTagUnits = s->maxTagUnits;
                int slash = s->slash;
                while (i < count) {
                    unsigned char c = bytes[i];
                    if (c == '>' || (start && (c == '"' || c == '\'' || c == '=' || c == '/'
                                               || offset - tagStart > maxTagUnits))) break;
                    if (c == '\n') { line++; lineStart = offset + 1; }
                    else if (c != ' ' && c != '\t' && c != '\r') slash = 0;
                    offset++;
                    i++;
                }
                s->offset = offset;
                s->line = line;
                s->lineStart = lineStart;
                if (start) s->slash = slash;
                if (i == count) break;
                // The character that ends the run: the markup step below.
            }
            unsigned char c = bytes[i];
            int violation = CLibXML2_scanStep(s, c);
            if (violation != CLibXML2_scanOK) { s->violation = violation; return i; }
            if (c == '\n') { s->line++; s->lineStart = s->offset + 1; }
            s->offset++;
            i++;
        }
        return count;
    }
    // UTF-16: units from byte pairs, which may straddle chunks.
    while (i < count) {
        s->pending[s->pendingCount++] = bytes[i++];
        if (s->pendingCount < 2) continue;
        s->pendingCount = 0;
        unsigned int unit = s->bigEndian ? ((unsigned int)s->pending[0] << 8 | s->pending[1])
                                         : ((unsigned int)s->pending[1] << 8 | s->pending[0]);
        if (unit > 0x7F) unit = 0x80;
        int violation = CLibXML2_scanStep(s, unit);
        if (violation != CLibXML2_scanOK) { s->violation = violation; return i - 2 < 0 ? 0 : i - 2; }
        if (unit == '\n') { s->line++; s->lineStart = s->offset + 1; }
        s->offset++;
    }
    return count;
}

#endif
