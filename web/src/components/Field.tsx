import type { ReactNode } from "react";

/** A labelled form control with its validation message underneath. */
export function Field({ label, name, error, hint, children }: {
  label: string;
  /** The request field name; used for the error's test id. */
  name: string;
  error?: string | undefined;
  hint?: string;
  children: ReactNode;
}) {
  return (
    <label className={`field${error ? " field--invalid" : ""}`}>
      <span className="field__label">{label}</span>
      {children}
      {hint && !error && <span className="field__hint">{hint}</span>}
      {error && (
        <span className="field__error" role="alert" data-testid={`field-error-${name}`}>
          {error}
        </span>
      )}
    </label>
  );
}
