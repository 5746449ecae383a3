import {
  defaultPayloadConverter,
  type ConverterHint,
  type Payload,
  type PayloadConverter,
  type SerializationContext,
} from '@temporalio/common';

/**
 * Stands in for a payload the default converter cannot decode. A class instance, so no JSON payload can
 * forge one: handlers recognise it with `instanceof` and refuse it.
 */
export class UndecodablePayload {
  constructor(
    /** The payload's encoding metadata, printable and at most 64 characters. */
    readonly encoding: string,
    readonly bytes: number,
  ) {}
}

const MAX_ENCODING_CHARS = 64;

function describeEncoding(payload: Payload): string {
  const raw = payload.metadata?.encoding;
  if (!raw) return '(none)';
  let text = '';
  // Metadata bytes come from outside; only a short printable prefix is kept, never the whole value.
  for (const byte of raw.subarray(0, MAX_ENCODING_CHARS))
    text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '?';
  return raw.length > MAX_ENCODING_CHARS ? `${text}…` : text;
}

/**
 * The SDK's default converter, except that a payload it cannot decode (unknown encoding, malformed JSON)
 * becomes an {@link UndecodablePayload} marker instead of an exception. A signal or update from outside
 * with such a payload would otherwise fail every workflow task of the rollout, so that not even a rollback
 * could get through. Encoding is unchanged.
 *
 * Used by the worker (`dataConverter.payloadConverterPath`) and the workflow bundle.
 *
 * @example
 * const marker = payloadConverter.fromPayload({ metadata: { encoding: bytes('x/unknown') }, data: bytes('?') });
 * marker instanceof UndecodablePayload; // true
 */
export const payloadConverter: PayloadConverter = {
  toPayload: (value, context, hint) => defaultPayloadConverter.toPayload(value, context, hint),
  fromPayload: <T>(payload: Payload, context?: SerializationContext, hint?: ConverterHint<T>): T => {
    try {
      return defaultPayloadConverter.fromPayload<T>(payload, context, hint);
    } catch {
      return new UndecodablePayload(describeEncoding(payload), payload.data?.length ?? 0) as T;
    }
  },
};
