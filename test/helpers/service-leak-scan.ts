/**
 * The spellings a plaintext can take on its way into a response, a log line or a metric: as is, JSON-escaped,
 * URL-encoded, base64 (standard and URL-safe, at each of the three byte alignments, so it is found inside a
 * longer encoded blob too) and hex.
 */
export function encodingsOf(plaintext: string): string[] {
  const bytes = Buffer.from(plaintext, 'utf8');
  const base64Fragments = [0, 1, 2].flatMap((offset) => {
    // Encode with `offset` bytes in front, then drop the characters those bytes (and the padding) influence.
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const start = Math.ceil((offset * 4) / 3) + (offset === 0 ? 0 : 1);
    const core = encoded.replace(/=+$/, '').slice(start, -2);
    return core.length >= 16 ? [core, core.replace(/\+/g, '-').replace(/\//g, '_')] : [];
  });
  return [
    plaintext,
    JSON.stringify(plaintext).slice(1, -1),
    encodeURIComponent(plaintext),
    bytes.toString('hex'),
    ...base64Fragments,
  ];
}

/**
 * The plaintexts (among `secrets`) that appear in `haystack` under any spelling of {@link encodingsOf}.
 *
 * @example
 * findPlaintexts(responseBodies.join('\n'), ['sk-live-1234']); // [] when nothing leaked
 */
export function findPlaintexts(haystack: string, secrets: readonly string[]): string[] {
  const lower = haystack.toLowerCase();
  return secrets.filter((secret) =>
    encodingsOf(secret).some((encoded) =>
      // Hex may be printed in either case; everything else must match exactly.
      /^[0-9a-f]+$/.test(encoded) ? lower.includes(encoded) : haystack.includes(encoded),
    ),
  );
}
