import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { Role, TokenService, type CreateTokenResponse } from "../../gen/clustergenie/gateway/v1/gateway_pb";
import { roleLabel } from "../../lib/auth";
import { useAuth } from "../../lib/context";
import { fieldError } from "../../lib/errors";
import { time } from "../../lib/format";
import { uiError, useInvalidate } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";
import { Badge, Loading, PageHeader } from "../../components/ui";

/** Admin: API tokens. A new token's secret is shown once, here. */
export function TokensPage() {
  const { session } = useAuth();
  const invalidate = useInvalidate();
  const [includeRevoked, setIncludeRevoked] = useState(false);
  const list = useQuery(TokenService.method.listTokens, { includeRevoked });
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>(Role.VIEWER);
  const [created, setCreated] = useState<CreateTokenResponse | null>(null);
  const changed = { onSuccess: () => invalidate(TokenService.method.listTokens) };
  const create = useMutation(TokenService.method.createToken, changed);
  const revoke = useMutation(TokenService.method.revokeToken, changed);
  const createError = uiError(create.error);

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate(
      { name: name.trim(), role },
      {
        onSuccess: (res) => {
          setCreated(res);
          setName("");
        },
      },
    );
  }

  return (
    <>
      <PageHeader title="API tokens">
        <button type="button" onClick={() => void list.refetch()} data-testid="tokens-refresh">
          Refresh
        </button>
      </PageHeader>
      <form className="card form" onSubmit={submit} data-testid="create-token-form">
        <h2>New token</h2>
        <ErrorBanner error={createError} shownFields={["name", "role"]} />
        <div className="form__row">
          <Field label="Name" name="name" error={fieldError(createError, "name")}>
            <input value={name} onChange={(e) => setName(e.target.value)} placeholder="ci-bot" data-testid="token-name" />
          </Field>
          <Field label="Role" name="role" error={fieldError(createError, "role")}>
            <select value={role} onChange={(e) => setRole(Number(e.target.value))} data-testid="token-role">
              {[Role.VIEWER, Role.OPERATOR, Role.ADMIN].map((r) => (
                <option key={r} value={r}>
                  {roleLabel(r)}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <button type="submit" className="primary" disabled={create.isPending} data-testid="token-submit">
          Create token
        </button>
      </form>
      {created && (
        <div className="banner banner--ok secret" data-testid="token-created">
          <p>
            Token <b>{created.token?.name}</b> created. Copy its secret now — it is not shown again:
          </p>
          <code data-testid="token-secret">{created.secret}</code>{" "}
          <button type="button" onClick={() => void navigator.clipboard?.writeText(created.secret)}>
            Copy
          </button>{" "}
          <button type="button" onClick={() => setCreated(null)} data-testid="token-secret-dismiss">
            Done
          </button>
        </div>
      )}
      <ErrorBanner error={uiError(list.error, revoke.error)} />
      <section className="card">
        <label className="check">
          <input type="checkbox" checked={includeRevoked} onChange={(e) => setIncludeRevoked(e.target.checked)} data-testid="tokens-include-revoked" />
          Show revoked tokens
        </label>
        {list.isPending ? (
          <Loading />
        ) : (
          <table className="table" data-testid="tokens-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Role</th>
                <th>Prefix</th>
                <th>Created</th>
                <th>Status</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.data?.tokens.map((t) => (
                <tr key={t.id} data-testid="token-row" data-token-name={t.name}>
                  <td>
                    {t.name}
                    {session?.name === t.name && <span className="muted small"> (you)</span>}
                  </td>
                  <td>{roleLabel(t.role)}</td>
                  <td className="mono">{t.prefix}…</td>
                  <td>{time(t.createTime)}</td>
                  <td>{t.revokeTime ? <Badge tone="bad">revoked {time(t.revokeTime)}</Badge> : <Badge tone="ok">valid</Badge>}</td>
                  <td>
                    {!t.revokeTime && (
                      <button
                        type="button"
                        className="danger small"
                        disabled={revoke.isPending}
                        onClick={() => revoke.mutate({ id: t.id })}
                        data-testid="token-revoke"
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
