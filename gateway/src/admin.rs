//! The gateway's own services: who a caller is, tokens, and rate limits.

use cg_runtime::{FieldViolation, time::timestamp, validate::Violations};
use clustergenie_proto::gateway::v1 as pb;
use tonic::{Request, Response, Status};

use crate::{
    auth::{self, Role, Token, Tokens},
    error::Error,
    limits::{Budget, Limiter, Tier},
};

fn role_pb(r: Role) -> pb::Role {
    match r {
        Role::Viewer => pb::Role::Viewer,
        Role::Operator => pb::Role::Operator,
        Role::Admin => pb::Role::Admin,
    }
}

impl From<Token> for pb::Token {
    fn from(t: Token) -> Self {
        Self {
            role: role_pb(t.role) as i32,
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            create_time: Some(timestamp(t.created_at)),
            revoke_time: t.revoked_at.map(timestamp),
        }
    }
}

fn invalid(field: &str, description: &str) -> Status {
    Error::InvalidArgument(vec![FieldViolation::new(field, description)]).into()
}

pub struct TokenApi(pub Tokens);

#[tonic::async_trait]
impl pb::token_service_server::TokenService for TokenApi {
    async fn who_am_i(
        &self,
        req: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        // The guard put the authenticated token here.
        let token = req
            .extensions()
            .get::<Token>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("no API token"))?;
        Ok(Response::new(pb::WhoAmIResponse {
            token: Some(token.into()),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn create_token(
        &self,
        req: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        let name = v.check("name", auth::parse_name(&r.name));
        let role = v.check(
            "role",
            match pb::Role::try_from(r.role) {
                Ok(pb::Role::Viewer) => Ok(Role::Viewer),
                Ok(pb::Role::Operator) => Ok(Role::Operator),
                Ok(pb::Role::Admin) => Ok(Role::Admin),
                _ => Err("must be ROLE_VIEWER, ROLE_OPERATOR or ROLE_ADMIN"),
            },
        );
        v.into_result().map_err(Error::InvalidArgument)?;
        let (name, role) = (name.unwrap(), role.unwrap());
        let (token, secret) = self.0.create(&name, role).await?;
        tracing::info!(token_id = %token.id, role = role.as_str(), "api token created");
        Ok(Response::new(pb::CreateTokenResponse {
            token: Some(token.into()),
            secret: secret.expose().to_string(),
        }))
    }

    async fn list_tokens(
        &self,
        req: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let tokens = self.0.list(req.get_ref().include_revoked).await?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens: tokens.into_iter().map(Into::into).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_token(
        &self,
        req: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let id = req.into_inner().id;
        if id.is_empty() || id.len() > 36 {
            return Err(invalid("id", "must be a token id"));
        }
        let token = self.0.revoke(&id).await?;
        tracing::info!(token_id = %id, "api token revoked");
        Ok(Response::new(pb::RevokeTokenResponse {
            token: Some(token.into()),
        }))
    }
}

/// Rate limits, and the wake of the relay that logs their changes.
pub struct LimitApi(pub Limiter, pub cg_runtime::outbox::Wake);

fn limits(limiter: &Limiter) -> Vec<pb::RateLimit> {
    Tier::ALL
        .iter()
        .map(|t| {
            let b = limiter.budget(*t);
            pb::RateLimit {
                tier: t.as_str().to_string(),
                requests: b.requests,
                period_seconds: u32::try_from(b.period.as_secs()).unwrap_or(u32::MAX),
            }
        })
        .collect()
}

#[tonic::async_trait]
impl pb::rate_limit_service_server::RateLimitService for LimitApi {
    async fn get_rate_limits(
        &self,
        _: Request<pb::GetRateLimitsRequest>,
    ) -> Result<Response<pb::GetRateLimitsResponse>, Status> {
        Ok(Response::new(pb::GetRateLimitsResponse {
            limits: limits(&self.0),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_rate_limits(
        &self,
        req: Request<pb::UpdateRateLimitsRequest>,
    ) -> Result<Response<pb::UpdateRateLimitsResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        let mut changes: Vec<(Tier, Budget)> = Vec::new();
        if r.limits.is_empty() {
            v.add("limits", "must name at least one tier");
        }
        for (i, l) in r.limits.iter().enumerate() {
            let Some(tier) = Tier::parse(&l.tier) else {
                v.add(
                    format!("limits[{i}].tier"),
                    "must be default, expensive or anonymous",
                );
                continue;
            };
            if changes.iter().any(|(t, _)| *t == tier) {
                v.add(format!("limits[{i}].tier"), "is named twice");
                continue;
            }
            let budget = Budget {
                requests: l.requests,
                period: std::time::Duration::from_secs(u64::from(l.period_seconds)),
            };
            if let Some(()) = v.check(&format!("limits[{i}]"), budget.validate()) {
                changes.push((tier, budget));
            }
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let summary: Vec<String> = changes
            .iter()
            .map(|(t, b)| format!("{}: {}/{}s", t.as_str(), b.requests, b.period.as_secs()))
            .collect();
        let entry = cg_runtime::activity::Activity::new(
            "gateway",
            "ratelimit.changed",
            cg_runtime::activity::Severity::Info,
            format!("rate limits changed ({})", summary.join(", ")),
            cg_runtime::time::now_millis(),
        )
        .event();
        self.0.update(&changes, Some(entry)).await?;
        self.1.wake();
        tracing::info!(changed = changes.len(), "rate limits updated");
        Ok(Response::new(pb::UpdateRateLimitsResponse {
            limits: limits(&self.0),
        }))
    }
}
