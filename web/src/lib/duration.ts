// Durations in forms: seconds typed by a person ↔ google.protobuf.Duration.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Duration, DurationSchema } from "@bufbuild/protobuf/wkt";

export function durationSeconds(d: Duration | undefined): number | undefined {
  return d ? Number(d.seconds) + d.nanos / 1e9 : undefined;
}

/** Seconds typed in a form; empty (or not a number) means unset, i.e. the server's default. */
export function duration(s: string): MessageInitShape<typeof DurationSchema> | undefined {
  if (s.trim() === "") return undefined;
  const v = Number(s);
  if (!Number.isFinite(v)) return undefined;
  const seconds = Math.floor(v);
  return { seconds: BigInt(seconds), nanos: Math.round((v - seconds) * 1e9) };
}
