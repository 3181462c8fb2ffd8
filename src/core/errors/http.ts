import { defineErrors } from './catalogue.js';

/**
 * HTTP errors: what src/http (Meridian's HTTP/1.1 engine) refuses, each with the status it
 * answers. A refusal is answered and the connection closed: the framing of what follows can
 * no longer be trusted. Add entries here only (codes are stable once released).
 */
export const HTTP_ERRORS = defineErrors('HTTP', {
  MERIDIAN_ERR_HTTP_BAD_REQUEST_LINE: { message: 'malformed request line', status: 400 },
  MERIDIAN_ERR_HTTP_BAD_METHOD: { message: 'unknown method or invalid character in the method', status: 400 },
  MERIDIAN_ERR_HTTP_BAD_URL: { message: 'invalid character in the request target', status: 400 },
  MERIDIAN_ERR_HTTP_BAD_VERSION: { message: 'HTTP version is not HTTP/1.0 or HTTP/1.1', status: 400 },
  MERIDIAN_ERR_HTTP_BAD_LINE_ENDING: { message: 'line not ended by CRLF (bare CR or LF)', status: 400 },
  MERIDIAN_ERR_HTTP_BAD_HEADER_NAME: { message: 'empty header name or invalid token character in it', status: 400 },
  MERIDIAN_ERR_HTTP_SPACE_BEFORE_COLON: { message: 'whitespace between a header name and the colon', status: 400 },
  MERIDIAN_ERR_HTTP_BAD_HEADER_VALUE: { message: 'control character in a header value', status: 400 },
  MERIDIAN_ERR_HTTP_OBS_FOLD: { message: 'obsolete line folding (a header line starting with whitespace)', status: 400 },
  MERIDIAN_ERR_HTTP_BAD_CONTENT_LENGTH: { message: 'Content-Length is not a decimal number of bytes', status: 400 },
  MERIDIAN_ERR_HTTP_DUPLICATE_CONTENT_LENGTH: { message: 'more than one Content-Length', status: 400 },
  MERIDIAN_ERR_HTTP_LENGTH_AND_CHUNKED: { message: 'Content-Length together with Transfer-Encoding', status: 400 },
  MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING: { message: 'Transfer-Encoding is not a list ending with a single chunked', status: 400 },
  MERIDIAN_ERR_HTTP_MISSING_HOST: { message: 'HTTP/1.1 request without Host', status: 400 },
  MERIDIAN_ERR_HTTP_DUPLICATE_HOST: { message: 'more than one Host', status: 400 },
  MERIDIAN_ERR_HTTP_BAD_CHUNK: { message: 'malformed chunk: {reason}', status: 400 },
  MERIDIAN_ERR_HTTP_CHUNK_TOO_LARGE: { message: 'chunk size overflows', status: 400 },
  MERIDIAN_ERR_HTTP_DATA_AFTER_CLOSE: { message: 'data after a request that closes the connection', status: 400 },
  MERIDIAN_ERR_HTTP_BODY_INCOMPLETE: { message: 'connection closed before the request body was complete', status: 400 },
  MERIDIAN_ERR_HTTP_CONNECT_UNSUPPORTED: { message: 'CONNECT is not served here', status: 501 },
  MERIDIAN_ERR_HTTP_HEADERS_TOO_LARGE: { message: 'request head larger than {limit} bytes', status: 431 },
  MERIDIAN_ERR_HTTP_TOO_MANY_HEADERS: { message: 'more than {limit} request headers', status: 431 },
  MERIDIAN_ERR_HTTP_URL_TOO_LONG: { message: 'request target longer than {limit} bytes', status: 414 },
  MERIDIAN_ERR_HTTP_HEADERS_TIMEOUT: { message: 'request head not received within {ms} ms', status: 408 },
  MERIDIAN_ERR_HTTP_REQUEST_TIMEOUT: { message: 'request not received within {ms} ms', status: 408 },
  MERIDIAN_ERR_HTTP_RESPONSE_LENGTH: { message: 'response body does not match its Content-Length', status: 500 },
});
