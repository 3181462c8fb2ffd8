/**
 * A client-sent request id is kept only when it looks like one: it lands in logs, error
 * bodies and the upstream's headers, so anything longer or with other characters is replaced.
 */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function isRequestId(value: string): boolean {
  return REQUEST_ID.test(value);
}
