import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import { createRequire } from 'node:module';

type History = proto.temporal.api.history.v1.IHistory;

/** The part of protobufjs' ProtoJSON extension used here. */
interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }): History;
}

/*
 * Histories in the JSON form of Temporal's other tools (`temporal workflow show --output json`), as the SDK's
 * `historyToJSON` / `historyFromJSON` (@temporalio/common/lib/proto-utils) write and read them. Those two fail
 * in this install with "type must be a Type": npm keeps three copies of protobufjs 8 (under
 * @temporalio/common, /proto and /worker, as the root holds grpc's protobufjs 7), and common's ProtoJSON
 * checks the history type against its own copy's class while the type comes from @temporalio/proto's copy.
 * Here both come from @temporalio/proto's copy, which works whatever npm hoists.
 */
const fromProtoPackage = createRequire(require.resolve('@temporalio/proto/package.json'));
const protoJson = fromProtoPackage('protobufjs/ext/protojson') as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

/** A history as a ProtoJSON object (int64 as strings, bytes as base64, enums by name). */
export function historyToJson(history: History): unknown {
  return protoJson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history));
}

/** A history read back from {@link historyToJson}'s form (fields it does not know are skipped). */
export function historyFromJson(json: unknown): History {
  return protoJson.fromJson(historyType, json, { ignoreUnknownFields: true });
}
