//! The thin tonic adapter: requests are parsed into domain types (every
//! bad field at once), the service does the work, and the runtime's one
//! table turns failures into statuses.

use cg_runtime::{
    ApiError,
    grpc::principal,
    page::PageRequest,
    time::millis_of,
    types::{Id, RequestId},
    validate::Violations,
};
use clustergenie_proto::diagnosis::v1 as pb;
use tonic::{Request, Response, Status, codegen::BoxStream};

use crate::{
    repo::{DiagnosisFilter, DiagnosisStore},
    service::{DiagnoseCmd, Diagnoser},
    wire,
};

const PAGES: (u32, u32) = (50, 1000);

pub struct Api<S>(pub Diagnoser<S>);

fn finish(v: Violations) -> Result<(), ApiError> {
    v.into_result().map_err(ApiError::InvalidArgument)
}

fn optional_id(v: &mut Violations, field: &str, raw: &str) -> Option<Option<Id>> {
    if raw.is_empty() {
        Some(None)
    } else {
        v.check(field, Id::parse(raw)).map(Some)
    }
}

fn required_id(v: &mut Violations, field: &str, raw: &str) -> Option<Id> {
    v.check(field, Id::parse(raw))
}

impl TryFrom<&pb::DiagnoseRequest> for DiagnoseCmd {
    type Error = ApiError;

    fn try_from(r: &pb::DiagnoseRequest) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let cluster = required_id(&mut v, "cluster_id", &r.cluster_id);
        let droplet = optional_id(&mut v, "droplet_id", &r.droplet_id);
        let request_id = v.check("request_id", RequestId::parse(&r.request_id));
        finish(v)?;
        Ok(Self {
            cluster_id: cluster.expect("checked"),
            droplet_id: droplet.expect("checked"),
            use_llm: r.use_llm,
            request_id: request_id.expect("checked"),
        })
    }
}

/// A recommendation id as diagnoses make them: `r` and a number.
fn recommendation_id(raw: &str) -> Result<&str, &'static str> {
    if raw.len() >= 2
        && raw.len() <= 16
        && raw.starts_with('r')
        && raw[1..].bytes().all(|b| b.is_ascii_digit())
    {
        Ok(raw)
    } else {
        Err("must be a recommendation id such as r1")
    }
}

#[tonic::async_trait]
impl<S: DiagnosisStore> pb::diagnosis_service_server::DiagnosisService for Api<S> {
    #[tracing::instrument(skip_all, fields(cluster = %req.get_ref().cluster_id, use_llm = req.get_ref().use_llm))]
    async fn diagnose(
        &self,
        req: Request<pb::DiagnoseRequest>,
    ) -> Result<Response<pb::DiagnoseResponse>, Status> {
        let cmd = DiagnoseCmd::try_from(req.get_ref())?;
        let d = self.0.diagnose(&cmd, &principal(&req)).await?;
        Ok(Response::new(pb::DiagnoseResponse {
            diagnosis: Some(wire::diagnosis(&d)),
        }))
    }

    #[tracing::instrument(skip_all, fields(cluster = %req.get_ref().cluster_id, use_llm = req.get_ref().use_llm))]
    async fn stream_diagnosis(
        &self,
        req: Request<pb::DiagnoseRequest>,
    ) -> Result<Response<BoxStream<pb::StreamDiagnosisResponse>>, Status> {
        let cmd = DiagnoseCmd::try_from(req.get_ref())?;
        let started = self.0.start(&cmd, &principal(&req)).await?;
        let first = pb::StreamDiagnosisResponse {
            diagnosis: Some(wire::diagnosis(&started.rules)),
        };
        let rest = started.enriched;
        let stream = rules_then_enriched(first, rest);
        Ok(Response::new(stream))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn get_diagnosis(
        &self,
        req: Request<pb::GetDiagnosisRequest>,
    ) -> Result<Response<pb::GetDiagnosisResponse>, Status> {
        let mut v = Violations::new();
        let id = required_id(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let d = self.0.get(id.expect("checked").as_str()).await?;
        Ok(Response::new(pb::GetDiagnosisResponse {
            diagnosis: Some(wire::diagnosis(&d)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_diagnoses(
        &self,
        req: Request<pb::ListDiagnosesRequest>,
    ) -> Result<Response<pb::ListDiagnosesResponse>, Status> {
        let r = req.get_ref();
        let mut v = Violations::new();
        let cluster = optional_id(&mut v, "cluster_id", &r.cluster_id);
        let droplet = optional_id(&mut v, "droplet_id", &r.droplet_id);
        let min_severity = v.check("min_severity", wire::severity_of(r.min_severity));
        let since = match &r.start_time {
            None => Some(None),
            Some(t) => v
                .check("start_time", millis_of(t).ok_or("must be a valid time"))
                .map(Some),
        };
        let filter_key = format!(
            "{}|{}|{}|{:?}",
            r.cluster_id,
            r.droplet_id,
            r.min_severity,
            r.start_time.as_ref().map(|t| (t.seconds, t.nanos))
        );
        let page = PageRequest::parse(&mut v, r.page_size, &r.page_token, &filter_key, PAGES);
        finish(v)?;
        let filter = DiagnosisFilter {
            cluster_id: cluster.flatten().map(|c| c.as_str().to_string()),
            droplet_id: droplet.flatten().map(|d| d.as_str().to_string()),
            min_severity: min_severity.flatten(),
            since_ms: since.flatten(),
        };
        let found = self.0.list(&filter, &page.expect("checked")).await?;
        Ok(Response::new(pb::ListDiagnosesResponse {
            next_page_token: found.next_token(&filter_key),
            diagnoses: found.items.iter().map(wire::diagnosis).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(diagnosis = %req.get_ref().diagnosis_id, recommendation = %req.get_ref().recommendation_id))]
    async fn implement_recommendation(
        &self,
        req: Request<pb::ImplementRecommendationRequest>,
    ) -> Result<Response<pb::ImplementRecommendationResponse>, Status> {
        let r = req.get_ref();
        let mut v = Violations::new();
        let diagnosis = required_id(&mut v, "diagnosis_id", &r.diagnosis_id);
        let recommendation = v.check("recommendation_id", recommendation_id(&r.recommendation_id));
        let request_id = v.check("request_id", RequestId::parse(&r.request_id));
        finish(v)?;
        let job = self
            .0
            .implement(
                diagnosis.expect("checked").as_str(),
                recommendation.expect("checked"),
                request_id.expect("checked").as_ref(),
                &principal(&req),
            )
            .await?;
        Ok(Response::new(pb::ImplementRecommendationResponse {
            job: Some(job),
        }))
    }
}

/// The rules' diagnosis, then the enriched one when there is one.
fn rules_then_enriched(
    first: pb::StreamDiagnosisResponse,
    rest: Option<futures::future::BoxFuture<'static, Result<crate::domain::Diagnosis, ApiError>>>,
) -> BoxStream<pb::StreamDiagnosisResponse> {
    use futures::StreamExt as _;
    let head = futures::stream::once(async move { Ok(first) });
    match rest {
        None => Box::pin(head),
        Some(rest) => Box::pin(head.chain(futures::stream::once(async move {
            rest.await
                .map(|d| pb::StreamDiagnosisResponse {
                    diagnosis: Some(wire::diagnosis(&d)),
                })
                .map_err(Status::from)
        }))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recommendation_id_is_r_and_a_number() {
        assert_eq!(recommendation_id("r12"), Ok("r12"));
        assert!(recommendation_id("r").is_err());
        assert!(recommendation_id("x1").is_err());
        assert!(recommendation_id("r1; DROP TABLE").is_err());
    }

    #[test]
    fn a_diagnose_request_reports_every_bad_field_at_once() {
        let err = DiagnoseCmd::try_from(&pb::DiagnoseRequest {
            cluster_id: "nope".into(),
            droplet_id: "also-nope".into(),
            use_llm: false,
            request_id: "has space".into(),
        })
        .unwrap_err();
        let ApiError::InvalidArgument(v) = err else {
            panic!("{err:?}")
        };
        let fields: Vec<&str> = v.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["cluster_id", "droplet_id", "request_id"]);
    }
}
