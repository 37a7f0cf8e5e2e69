import { useState, type FormEvent } from "react";
import { TokenService } from "../../gen/clustergenie/gateway/v1/gateway_pb";
import { Role, roleLabel } from "../../lib/auth";
import { useAuth, useAuthStore, useClient } from "../../lib/context";
import { toUiError, type UiError } from "../../lib/errors";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";

/** Paste an API token; WhoAmI tells us whether it is valid and its role. */
export function SignInPage() {
  const tokens = useClient(TokenService);
  const store = useAuthStore();
  const { notice } = useAuth();
  const [token, setToken] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<UiError | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const t = token.trim();
    if (!t) {
      setError({ kind: "invalid", message: "Paste an API token first.", fields: { token: "Required." } });
      return;
    }
    setPending(true);
    setError(null);
    try {
      const res = await tokens.whoAmI({}, { headers: { authorization: `Bearer ${t}` } });
      const role = res.token?.role ?? Role.UNSPECIFIED;
      if (role === Role.UNSPECIFIED) throw new Error("The gateway did not report a role for this token.");
      store.signIn({ token: t, role, name: res.token?.name ?? "" });
    } catch (err) {
      setError(toUiError(err));
      setPending(false);
    }
  }

  return (
    <main className="signin">
      <form className="card signin__card" onSubmit={submit} data-testid="signin-form">
        <h1>ClusterGenie</h1>
        <p className="muted">Sign in with an API token. An admin creates tokens on the Tokens page.</p>
        {notice && (
          <div className="banner banner--warn" data-testid="signin-notice">
            {notice}
          </div>
        )}
        <ErrorBanner error={error} shownFields={["token"]} />
        <Field label="API token" name="token" error={error?.fields.token}>
          <input
            type="password"
            autoComplete="off"
            spellCheck={false}
            placeholder="cgt_…"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            data-testid="signin-token"
            autoFocus
          />
        </Field>
        <button type="submit" className="primary" disabled={pending} data-testid="signin-submit">
          {pending ? "Checking…" : "Sign in"}
        </button>
        <p className="muted small">
          Roles: <b>{roleLabel(Role.VIEWER)}</b> reads, <b>{roleLabel(Role.OPERATOR)}</b> also changes things,{" "}
          <b>{roleLabel(Role.ADMIN)}</b> also manages tokens and rate limits.
        </p>
      </form>
    </main>
  );
}
