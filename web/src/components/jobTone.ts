// The badge colour of a job status, shared by the jobs pages and the overview.
import { JobStatus } from "../gen/clustergenie/jobs/v1/jobs_pb";

export function jobTone(s: JobStatus) {
  switch (s) {
    case JobStatus.SUCCEEDED:
      return "ok" as const;
    case JobStatus.FAILED:
      return "bad" as const;
    case JobStatus.CANCELLED:
      return "warn" as const;
    case JobStatus.RUNNING:
      return "info" as const;
    default:
      return "neutral" as const;
  }
}
