// The fleet at a glance, live: clusters with their health and cost, droplets
// by status, the jobs not finished yet, the scaler's latest decisions, the
// latest diagnoses and the activity stream. Each section asks for its own
// data and shows its own error, so one service down leaves the rest on view.
import { useState } from "react";
import { DiagnosisService } from "../../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { JobService } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { ActivityService } from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { ClusterService, DropletService } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { ScalerService } from "../../gen/clustergenie/scaler/v1/scaler_pb";
import { useInvalidate } from "../../lib/query";
import { PageHeader } from "../../components/ui";
import { ActivityCard } from "./ActivityCard";
import { ClustersCard } from "./ClustersCard";
import { DecisionsCard } from "./DecisionsCard";
import { DiagnosesCard } from "./DiagnosesCard";
import { DropletsCard } from "./DropletsCard";
import { RunningJobsCard } from "./RunningJobsCard";

export function OverviewPage() {
  const invalidate = useInvalidate();
  const [refreshing, setRefreshing] = useState(false);
  const refresh = () => {
    setRefreshing(true);
    void invalidate(
      ClusterService.method.listClusters,
      DropletService.method.listDroplets,
      JobService.method.listJobs,
      ScalerService.method.listDecisions,
      DiagnosisService.method.listDiagnoses,
      ActivityService.method.listActivity,
    ).finally(() => setRefreshing(false));
  };

  return (
    <>
      <PageHeader title="Overview">
        <button type="button" onClick={refresh} disabled={refreshing} data-testid="overview-refresh">
          Refresh
        </button>
      </PageHeader>
      <ClustersCard />
      <div className="grid-2">
        <DropletsCard />
        <RunningJobsCard />
      </div>
      <div className="grid-2">
        <DecisionsCard />
        <DiagnosesCard />
      </div>
      <ActivityCard />
    </>
  );
}
