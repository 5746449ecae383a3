import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';

/** /proc/net/tcp writes each 32-bit word of an address in host (little-endian) byte order. */
function wordBytes(hex: string): number[] {
  return [6, 4, 2, 0].map((offset) => parseInt(hex.slice(offset, offset + 2), 16));
}

function decodeAddress(hex: string): string {
  if (hex.length === 8) return wordBytes(hex).join('.');
  const bytes = [0, 8, 16, 24].flatMap((offset) => wordBytes(hex.slice(offset, offset + 8)));
  const groups = [0, 2, 4, 6, 8, 10, 12, 14].map((i) =>
    (((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16),
  );
  // Compressed the way people write them, e.g. "::" (all interfaces) and "::1".
  return groups
    .join(':')
    .replace(/^0(:0)+$/, '::')
    .replace(/^(0:)+/, '::');
}

/**
 * The local addresses with a socket listening on TCP `port` (IPv4 and IPv6), read from /proc/net: e.g.
 * `['127.0.0.1']`, or `['0.0.0.0']` / `['::']` for all interfaces.
 */
export function tcpListenAddresses(port: number): string[] {
  const addresses: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue;
      const [address = '', portHex = ''] = local.split(':');
      if (parseInt(portHex, 16) === port) addresses.push(decodeAddress(address));
    }
  }
  return addresses;
}

/** This machine's own addresses other than loopback: where a server bound to all interfaces would also answer. */
export function nonLoopbackAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((entry) => entry !== undefined && !entry.internal && entry.family === 'IPv4')
    .map((entry) => entry!.address);
}

/** Connects once: 'connected', or the error code (e.g. ECONNREFUSED); 'timeout' after `timeoutMs`. */
export function tryConnect(host: string, port: number, timeoutMs = 3_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
