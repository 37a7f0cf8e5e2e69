import type { ReactNode } from "react";
import { useAuth } from "../lib/context";
import { Role } from "../lib/auth";

/** Renders its children only for callers whose role is at least `role`. */
export function Can({ role, children, otherwise = null }: { role: Role; children: ReactNode; otherwise?: ReactNode }) {
  const { can } = useAuth();
  return <>{can(role) ? children : otherwise}</>;
}

export function ReadOnlyNote({ what }: { what: string }) {
  return (
    <p className="muted" data-testid="read-only-note">
      Your role is read-only: {what} needs an operator token.
    </p>
  );
}

export type Tone = "neutral" | "ok" | "warn" | "bad" | "info";

/** `data-*` attributes a component passes through to its element. */
type DataAttributes = { [name: `data-${string}`]: string | undefined };

export function Badge({ tone = "neutral", children, testid, title, ...data }: {
  tone?: Tone;
  children: ReactNode;
  testid?: string;
  title?: string;
} & DataAttributes) {
  return (
    <span className={`badge badge--${tone}`} data-testid={testid} title={title} {...data}>
      {children}
    </span>
  );
}

export function ProgressBar({ value, testid, label }: { value: number; testid?: string; label?: string }) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      className="progress"
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={v}
      aria-label={label ?? "progress"}
      data-testid={testid}
    >
      <div className="progress__fill" style={{ width: `${v}%` }} />
      <span className="progress__text">{v}%</span>
    </div>
  );
}

export function Pager({ page, hasNext, onPrev, onNext, testid }: {
  page: number;
  hasNext: boolean;
  onPrev: () => void;
  onNext: () => void;
  testid: string;
}) {
  return (
    <div className="pager" data-testid={testid}>
      <button type="button" onClick={onPrev} disabled={page === 0} data-testid={`${testid}-prev`}>
        ← Previous
      </button>
      <span>Page {page + 1}</span>
      <button type="button" onClick={onNext} disabled={!hasNext} data-testid={`${testid}-next`}>
        Next →
      </button>
    </div>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="page-header">
      <h1>{title}</h1>
      <div className="page-header__actions">{children}</div>
    </div>
  );
}

export function Loading() {
  return <p className="muted">Loading…</p>;
}
