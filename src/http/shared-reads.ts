/**
 * Accepted plain-TCP sockets read into one buffer that every connection of the process
 * shares (node:net's `onread`), not into a new 64 KiB allocation per read that is shrunk,
 * wrapped and collected again: that allocation and the Readable push behind it cost about 8 %
 * of a proxied request's CPU. The bytes handed to the callback are valid until it returns.
 *
 * node:net takes `onread` only in the Socket constructor, so the accepted socket's handle is
 * moved into a Socket made with it. That needs a server created with `pauseOnConnect` (the
 * accepted socket must not have started reading); anything else keeps the stream path.
 */
import { Socket, type Server as NetServer } from 'node:net';

const SHARED = Buffer.allocUnsafe(64 * 1024);

/** Called with the bytes of one read (reused by the next): false stops reading. */
export type SharedReadCallback = (n: number, buf: Buffer) => boolean;

/** The node:net internals the move relies on (stable since node 12, when `onread` came). */
interface SocketInternals {
  _handle: { reading?: boolean; constructor: { name: string } } | null;
  _server: NetServer | null;
  server: NetServer | null;
}

/**
 * The accepted `socket`'s connection as a Socket reading into the shared buffer, or undefined
 * when it cannot be moved (then `socket` serves as it is, once resumed).
 */
export function sharedReadSocket(socket: Socket, server: NetServer, onRead: SharedReadCallback): Socket | undefined {
  const inner = socket as unknown as SocketInternals;
  const handle = inner._handle;
  if (!(server as unknown as { pauseOnConnect?: boolean }).pauseOnConnect || handle === null || handle.reading !== false || handle.constructor.name !== 'TCP') return undefined;
  // The accepted Socket object is dropped: it must touch neither the handle nor the server's count.
  inner._handle = null;
  inner._server = null;
  inner.server = null;
  const moved = new Socket({ handle, allowHalfOpen: socket.allowHalfOpen, readable: true, writable: true, onread: { buffer: SHARED, callback: onRead } } as ConstructorParameters<typeof Socket>[0]);
  // The server counted the accepted socket; this one's close is what it now waits for.
  const internals = moved as unknown as SocketInternals;
  internals.server = server;
  internals._server = server;
  return moved;
}
