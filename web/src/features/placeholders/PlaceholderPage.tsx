import { PageHeader } from "../../components/ui";

/** Monitoring, Diagnosis and Autoscaling: reserved places later releases fill. */
export function PlaceholderPage({ title, about }: { title: string; about: string }) {
  return (
    <>
      <PageHeader title={title} />
      <section className="card placeholder" data-testid="placeholder-page">
        <p>
          <span className="badge badge--warn">coming soon</span> {title} arrives with a later release.
        </p>
        <p className="muted">{about}</p>
      </section>
    </>
  );
}
