import { useState, type FormEvent } from "react";
import { callUnaryMethod, useTransport } from "@connectrpc/connect-query";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { TokenService } from "../../gen/clustergenie/gateway/v1/gateway_pb";
import { Role, roleLabel } from "../../lib/auth";
import { useAuth, useAuthStore } from "../../lib/context";
import { toUiError, type UiError } from "../../lib/errors";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";

/** Paste an API token; WhoAmI tells us whether it is valid and its role. */
export function SignInPage() {
  const transport = useTransport();
  const queryClient = useQueryClient();
  const store = useAuthStore();
  const { notice } = useAuth();
  const [token, setToken] = useState("");
  const [missing, setMissing] = useState(false);
  // WhoAmI with the pasted token (not the stored one) as the bearer.
  const whoAmI = useMutation({
    mutationFn: async (t: string) => {
      const res = await callUnaryMethod(transport, TokenService.method.whoAmI, {}, { headers: { authorization: `Bearer ${t}` } });
      const role = res.token?.role ?? Role.UNSPECIFIED;
      if (role === Role.UNSPECIFIED) throw new Error("The gateway did not report a role for this token.");
      return { token: t, role, name: res.token?.name ?? "" };
    },
    onSuccess: (session) => {
      // Nothing cached for the previous session (another role) may show.
      queryClient.clear();
      store.signIn(session);
    },
  });
  const error: UiError | null = missing
    ? { kind: "invalid", message: "Paste an API token first.", fields: { token: "Required." } }
    : whoAmI.error
      ? toUiError(whoAmI.error)
      : null;
  // Stays "Checking…" once signed in, while the app replaces this page.
  const pending = whoAmI.isPending || whoAmI.isSuccess;

  function submit(e: FormEvent) {
    e.preventDefault();
    const t = token.trim();
    setMissing(!t);
    if (!t) {
      whoAmI.reset();
      return;
    }
    whoAmI.mutate(t);
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
