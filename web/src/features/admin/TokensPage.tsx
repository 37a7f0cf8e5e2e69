import { useState, type FormEvent } from "react";
import { Role, TokenService, type CreateTokenResponse } from "../../gen/clustergenie/gateway/v1/gateway_pb";
import { roleLabel } from "../../lib/auth";
import { useAuth, useClient } from "../../lib/context";
import { fieldError } from "../../lib/errors";
import { time } from "../../lib/format";
import { useMutation, useRpc } from "../../lib/hooks";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";
import { Badge, Loading, PageHeader } from "../../components/ui";

/** Admin: API tokens. A new token's secret is shown once, here. */
export function TokensPage() {
  const client = useClient(TokenService);
  const { session } = useAuth();
  const [includeRevoked, setIncludeRevoked] = useState(false);
  const list = useRpc((signal) => client.listTokens({ includeRevoked }, { signal }), [client, includeRevoked]);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>(Role.VIEWER);
  const [created, setCreated] = useState<CreateTokenResponse | null>(null);
  const create = useMutation(() => client.createToken({ name: name.trim(), role }));
  const revoke = useMutation((id: string) => client.revokeToken({ id }));

  async function submit(e: FormEvent) {
    e.preventDefault();
    const res = await create.run();
    if (res) {
      setCreated(res);
      setName("");
      list.reload();
    }
  }

  return (
    <>
      <PageHeader title="API tokens">
        <button type="button" onClick={list.reload} data-testid="tokens-refresh">
          Refresh
        </button>
      </PageHeader>
      <form className="card form" onSubmit={submit} data-testid="create-token-form">
        <h2>New token</h2>
        <ErrorBanner error={create.error} shownFields={["name", "role"]} />
        <div className="form__row">
          <Field label="Name" name="name" error={fieldError(create.error, "name")}>
            <input value={name} onChange={(e) => setName(e.target.value)} placeholder="ci-bot" data-testid="token-name" />
          </Field>
          <Field label="Role" name="role" error={fieldError(create.error, "role")}>
            <select value={role} onChange={(e) => setRole(Number(e.target.value))} data-testid="token-role">
              {[Role.VIEWER, Role.OPERATOR, Role.ADMIN].map((r) => (
                <option key={r} value={r}>
                  {roleLabel(r)}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <button type="submit" className="primary" disabled={create.pending} data-testid="token-submit">
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
      <ErrorBanner error={list.error ?? revoke.error} />
      <section className="card">
        <label className="check">
          <input type="checkbox" checked={includeRevoked} onChange={(e) => setIncludeRevoked(e.target.checked)} data-testid="tokens-include-revoked" />
          Show revoked tokens
        </label>
        {list.loading && !list.data ? (
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
                        disabled={revoke.pending}
                        onClick={async () => {
                          if (await revoke.run(t.id)) list.reload();
                        }}
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
