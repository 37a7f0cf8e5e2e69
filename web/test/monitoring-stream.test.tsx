// src/lib/stream.ts: the reopen-from-the-last-cursor loop and its hook; and
// lib/live.ts's polling, which waits with the same sleep.
import { Code, ConnectError } from "@connectrpc/connect";
import { act, renderHook, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { follow } from "../src/lib/live";
import { backoffDelay, DEFAULT_BACKOFF, resumeStream, useResumableStream } from "../src/lib/stream";
import { StreamConn } from "./monitoring-fixtures";

interface Item {
  id: string;
  cursor?: string;
}

/** A scripted server: each opening plays the next script (items, then an error or a clean end). */
function scripted(scripts: { items: Item[]; error?: ConnectError }[]) {
  const opened: (string | undefined)[] = [];
  const open = (cursor: string | undefined) => {
    opened.push(cursor);
    const script = scripts[opened.length - 1];
    return (async function* () {
      if (!script) throw new ConnectError("no more scripts", Code.InvalidArgument);
      for (const item of script.items) yield item;
      if (script.error) throw script.error;
    })();
  };
  return { open, opened };
}

const unavailable = () => new ConnectError("connection reset", Code.Unavailable);

describe("resumeStream", () => {
  it("reopens after a failure or an end from the last cursor received, delivering every item once", async () => {
    const server = scripted([
      { items: [{ id: "a", cursor: "1" }, { id: "b", cursor: "2" }], error: unavailable() },
      { items: [{ id: "c", cursor: "3" }] }, // ends cleanly
      { items: [{ id: "x" }] }, // no cursor: keeps "3"
      { items: [], error: new ConnectError("bad cursor", Code.InvalidArgument) },
    ]);
    const got: string[] = [];
    const waits: number[] = [];
    const err = await resumeStream<Item>({
      open: server.open,
      onItem: (i) => got.push(i.id),
      cursorOf: (i) => i.cursor,
      cursor: "0",
      signal: new AbortController().signal,
      sleep: async (ms) => void waits.push(ms),
      random: () => 1,
    });
    expect(got).toEqual(["a", "b", "c", "x"]);
    expect(server.opened).toEqual(["0", "2", "3", "3"]);
    // Every stream delivered, so each wait is the first step of the backoff.
    expect(waits).toEqual([250, 250, 250]);
    // INVALID_ARGUMENT stops it and is returned.
    expect(err?.code).toBe(Code.InvalidArgument);
  });

  it("backs off exponentially while openings deliver nothing, up to the maximum, and starts over after a delivery", async () => {
    const server = scripted([
      ...Array.from({ length: 9 }, () => ({ items: [], error: unavailable() })),
      { items: [{ id: "a", cursor: "1" }], error: unavailable() },
      { items: [], error: new ConnectError("gone", Code.PermissionDenied) },
    ]);
    const waits: number[] = [];
    await resumeStream<Item>({
      open: server.open,
      onItem: () => {},
      cursorOf: (i) => i.cursor,
      signal: new AbortController().signal,
      backoff: { initialMs: 100, maxMs: 5_000, factor: 2 },
      sleep: async (ms) => void waits.push(ms),
      random: () => 1,
    });
    expect(waits).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 100]);
    // No cursor until the first item: the first openings pass none.
    expect(server.opened.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(server.opened[10]).toBe("1");
  });

  it("jitters the wait between half and all of the backoff step", () => {
    expect(backoffDelay(2, DEFAULT_BACKOFF, () => 0)).toBe(500);
    expect(backoffDelay(2, DEFAULT_BACKOFF, () => 1)).toBe(1000);
    expect(backoffDelay(30, DEFAULT_BACKOFF, () => 1)).toBe(DEFAULT_BACKOFF.maxMs);
  });

  it("waits at least the server's retry delay after RESOURCE_EXHAUSTED", async () => {
    const limited = new ConnectError("slow down", Code.ResourceExhausted, { "retry-after": "7" });
    const server = scripted([{ items: [], error: limited }, { items: [], error: new ConnectError("x", Code.Unauthenticated) }]);
    const waits: number[] = [];
    const err = await resumeStream<Item>({
      open: server.open,
      onItem: () => {},
      signal: new AbortController().signal,
      sleep: async (ms) => void waits.push(ms),
      random: () => 1,
    });
    expect(waits).toEqual([7000]);
    expect(err?.code).toBe(Code.Unauthenticated);
  });

  it("stops quietly when aborted, mid-stream or while waiting to reopen", async () => {
    const ctrl = new AbortController();
    const conns: StreamConn<Item>[] = [];
    const statuses: string[] = [];
    const got: string[] = [];
    const done = resumeStream<Item>({
      open: (_c, signal) => {
        const conn = new StreamConn<Item>();
        conns.push(conn);
        return conn.iterate(signal);
      },
      onItem: (i) => got.push(i.id),
      signal: ctrl.signal,
      onStatus: (s) => statuses.push(s),
      backoff: { initialMs: 60_000 },
    });
    await waitFor(() => expect(conns).toHaveLength(1));
    conns[0]!.push({ id: "a" });
    await waitFor(() => expect(got).toEqual(["a"]));
    conns[0]!.fail(unavailable());
    await waitFor(() => expect(statuses).toEqual(["open", "retrying"]));
    // Waiting a minute to reopen; aborting ends the wait at once.
    ctrl.abort();
    await expect(done).resolves.toBeUndefined();
    expect(conns).toHaveLength(1);
    expect(conns[0]!.open).toBe(false);
  });
});

describe("useResumableStream", () => {
  it("runs while it has a key, restarts from the initial cursor when the key changes, and aborts on unmount", async () => {
    const conns: { cursor: string | undefined; conn: StreamConn<Item>; signal: AbortSignal }[] = [];
    const got: string[] = [];
    const { result, rerender, unmount } = renderHook(
      ({ k, cursor }: { k: string | null; cursor: string }) =>
        useResumableStream<Item>({
          key: k,
          cursor,
          open: (c, signal) => {
            const conn = new StreamConn<Item>();
            conns.push({ cursor: c, conn, signal });
            return conn.iterate(signal);
          },
          cursorOf: (i) => i.cursor,
          onItem: (i) => got.push(i.id),
          backoff: { initialMs: 1 },
        }),
      { initialProps: { k: null as string | null, cursor: "c0" } },
    );
    expect(result.current.status).toBe("idle");
    expect(conns).toHaveLength(0);

    rerender({ k: "a", cursor: "c0" });
    await waitFor(() => expect(conns).toHaveLength(1));
    expect(conns[0]!.cursor).toBe("c0");
    expect(result.current.status).toBe("open");
    act(() => conns[0]!.conn.push({ id: "one", cursor: "c1" }));
    await waitFor(() => expect(got).toEqual(["one"]));

    // A transient failure: reopened from the last cursor, the error shown until it delivers again.
    act(() => conns[0]!.conn.fail(unavailable()));
    await waitFor(() => expect(conns).toHaveLength(2));
    expect(conns[1]!.cursor).toBe("c1");
    expect(result.current.error?.kind).toBe("unavailable");
    act(() => conns[1]!.conn.push({ id: "two", cursor: "c2" }));
    await waitFor(() => expect(result.current.error).toBeNull());

    // A new key: the old stream is aborted, the new one starts from the (new) initial cursor.
    rerender({ k: "b", cursor: "c9" });
    await waitFor(() => expect(conns).toHaveLength(3));
    expect(conns[1]!.signal.aborted).toBe(true);
    expect(conns[2]!.cursor).toBe("c9");

    // A fatal error stops it; restart opens it again.
    act(() => conns[2]!.conn.fail(new ConnectError("nope", Code.PermissionDenied)));
    await waitFor(() => expect(result.current.status).toBe("stopped"));
    expect(result.current.error?.kind).toBe("permission");
    act(() => result.current.restart());
    await waitFor(() => expect(conns).toHaveLength(4));

    unmount();
    expect(conns[3]!.signal.aborted).toBe(true);
    expect(got).toEqual(["one", "two"]);
  });
});

describe("follow", () => {
  it("polls after the stream fails, without leaving an abort listener behind per poll", async () => {
    const ctrl = new AbortController();
    let listeners = 0;
    const add = ctrl.signal.addEventListener.bind(ctrl.signal);
    const remove = ctrl.signal.removeEventListener.bind(ctrl.signal);
    ctrl.signal.addEventListener = ((...args: Parameters<AbortSignal["addEventListener"]>) => {
      listeners++;
      add(...args);
    }) as AbortSignal["addEventListener"];
    ctrl.signal.removeEventListener = ((...args: Parameters<AbortSignal["removeEventListener"]>) => {
      listeners--;
      remove(...args);
    }) as AbortSignal["removeEventListener"];
    let polls = 0;
    const seen: number[] = [];
    await follow<number>({
      watch: () => {
        throw unavailable();
      },
      poll: async () => ++polls,
      isDone: (n) => n === 5,
      onUpdate: (n) => seen.push(n),
      signal: ctrl.signal,
      pollMs: 1,
    });
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(listeners).toBe(0);
  });
});
