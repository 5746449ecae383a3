/**
 * Where a connection URL points, without credentials, for errors and logs: `host:port`, or with `withPath`
 * `host:port/database`. A URL that does not parse is not echoed (it may hold a password).
 *
 * @example
 * describeServer('postgres://app:secret@db.example:5432/config', { withPath: true }); // 'db.example:5432/config'
 */
export function describeServer(url: string, options: { withPath?: boolean } = {}): string {
  try {
    const parsed = new URL(url);
    return options.withPath ? `${parsed.host}${parsed.pathname}` : parsed.host;
  } catch {
    return 'the configured server';
  }
}
