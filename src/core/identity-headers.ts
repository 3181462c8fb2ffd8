/**
 * Headers the gateway's auth plugins set for the upstream to say who the caller is. An
 * upstream trusts them only because the gateway drops a client's own copies from every
 * request (plain and upgrade) before plugins run: a header added here is stripped there too.
 */
export const CONSUMER_HEADER = 'X-Consumer-Username';

export const IDENTITY_HEADERS: readonly string[] = [CONSUMER_HEADER];
