import type { ResumableStream } from "../lib/stream";

/** "● live" / "reconnecting…" / "stopped" for a resumable stream. */
export function LiveStatus({ stream, testid }: { stream: ResumableStream; testid: string }) {
  const text =
    stream.status === "open"
      ? "● live"
      : stream.status === "retrying"
        ? "reconnecting…"
        : stream.status === "stopped"
          ? "live updates stopped"
          : "";
  return (
    <span role="status" className={`live-status live-status--${stream.status}`} data-testid={testid} data-status={stream.status}>
      {text}
      {stream.status === "stopped" && (
        <>
          {" "}
          <button type="button" className="link" onClick={stream.restart} data-testid={`${testid}-restart`}>
            Reconnect
          </button>
        </>
      )}
    </span>
  );
}
