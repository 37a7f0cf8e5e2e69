//! Bearer API tokens with roles. Secrets look like `cgt_<40 base62 chars>`;
//! only their SHA-256 is stored. Roles nest: viewer < operator < admin.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use cg_runtime::{new_id, time::now_millis};
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use sqlx::{AnyPool, Row as _, any::AnyRow};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        [Self::Viewer, Self::Operator, Self::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

const SECRET_PREFIX: &str = "cgt_";
const SECRET_LEN: usize = 40;
/// How long a lookup is trusted before the store is asked again: the upper
/// bound on how long a revoked token keeps working on another replica.
const CACHE_TTL: Duration = Duration::from_secs(5);

/// A token's secret as the caller presents it.
#[derive(Clone)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub fn parse(raw: &str) -> std::result::Result<Self, String> {
        let Some(rest) = raw.strip_prefix(SECRET_PREFIX) else {
            return Err(format!("must start with {SECRET_PREFIX}"));
        };
        if !(20..=128).contains(&rest.len()) || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("must be cgt_ and 20–128 letters or digits".into());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        let body: String = (0..SECRET_LEN)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        Self(format!("{SECRET_PREFIX}{body}"))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        format!("{:x}", Sha256::digest(self.0.as_bytes()))
    }

    fn prefix(&self) -> String {
        self.0.chars().take(SECRET_PREFIX.len() + 4).collect()
    }
}

/// The `authorization: Bearer …` value, if any. A malformed header is an
/// error, not an anonymous call.
pub fn bearer(headers: &http::HeaderMap) -> std::result::Result<Option<Secret>, &'static str> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| "malformed authorization header")?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or("authorization must be `Bearer <token>`")?;
    Secret::parse(token.trim())
        .map(Some)
        .map_err(|_| "invalid API token")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A token name: 1–63 printable characters.
pub fn parse_name(raw: &str) -> std::result::Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 63 || name.chars().any(char::is_control) {
        return Err("must be 1–63 printable characters");
    }
    Ok(name.to_string())
}

fn token_from(row: &AnyRow) -> Result<Token> {
    let role: String = row.try_get("role")?;
    Ok(Token {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: Role::from_column(&role)
            .ok_or_else(|| Error::Internal(format!("bad role {role}")))?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const COLUMNS: &str = "id, name, role, prefix, created_at, revoked_at";

/// Lookups by secret hash, and when each was made.
type Cache = HashMap<String, (Token, Instant)>;

/// Tokens in the gateway's database, with a short-lived lookup cache.
#[derive(Clone)]
pub struct Tokens {
    pool: AnyPool,
    /// Appended to the read that counts admins before a revoke, so two
    /// concurrent revokes of the last two admins serialise (MySQL). SQLite
    /// has one writer and no such clause.
    lock_rows: &'static str,
    cache: Arc<RwLock<Cache>>,
    /// Wakes the outbox relay after a token change is logged.
    wake: cg_runtime::outbox::Wake,
}

/// The activity-log entry of a token change (fleet-wide: no cluster).
fn token_activity(
    kind: &str,
    severity: cg_runtime::activity::Severity,
    token: &Token,
) -> cg_runtime::outbox::NewEvent {
    let verb = if kind == "token.created" {
        "created"
    } else {
        "revoked"
    };
    cg_runtime::activity::Activity::new(
        "gateway",
        kind,
        severity,
        format!("token {} ({}) {verb}", token.name, token.role.as_str()),
        now_millis(),
    )
    .attribute("token_id", token.id.clone())
    .attribute("role", token.role.as_str())
    .event()
}

impl Tokens {
    pub fn new(db: &cg_runtime::db::Db) -> Self {
        Self {
            wake: db.wake.clone(),
            pool: db.pool.clone(),
            lock_rows: match db.backend {
                cg_runtime::db::Backend::MySql => " FOR UPDATE",
                cg_runtime::db::Backend::Sqlite => "",
            },
            cache: Arc::default(),
        }
    }

    /// The token with this secret if a recent lookup found it valid:
    /// answered without the store, so callers may skip charging for it.
    pub fn cached(&self, secret: &Secret) -> Option<Token> {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(&secret.hash())
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(t, _)| t.clone())
    }

    /// Of `ids`, the tokens that are revoked now.
    pub async fn revoked_among(&self, ids: &[String]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; ids.len()].join(", ");
        let sql = format!(
            "SELECT id FROM api_tokens WHERE revoked_at IS NOT NULL AND id IN ({placeholders})"
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id.as_str());
        }
        Ok(q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()?)
    }

    /// The valid token with this secret, if any.
    pub async fn authenticate(&self, secret: &Secret) -> Result<Option<Token>> {
        if let Some(token) = self.cached(secret) {
            return Ok(Some(token));
        }
        let hash = secret.hash();
        let token = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE secret_hash = ? AND revoked_at IS NULL"
        ))
        .bind(hash.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(|r| token_from(&r))
        .transpose()?;
        // Only valid tokens are kept, so the cache stays as small as the
        // token table and guessed secrets cannot flush it.
        if let Some(t) = &token {
            self.cache
                .write()
                .unwrap()
                .insert(hash, (t.clone(), Instant::now()));
        }
        Ok(token)
    }

    pub async fn create(&self, name: &str, role: Role) -> Result<(Token, Secret)> {
        let secret = Secret::generate();
        let token = self.insert(name, role, &secret).await?;
        Ok((token, secret))
    }

    async fn insert(&self, name: &str, role: Role, secret: &Secret) -> Result<Token> {
        let token = Token {
            id: new_id(),
            name: name.to_string(),
            role,
            prefix: secret.prefix(),
            created_at: now_millis(),
            revoked_at: None,
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, prefix, secret_hash, created_at, revoked_at) \
             VALUES (?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(token.id.as_str())
        .bind(token.name.as_str())
        .bind(role.as_str())
        .bind(token.prefix.as_str())
        .bind(secret.hash())
        .bind(token.created_at)
        .execute(&mut *tx)
        .await?;
        let entry = token_activity(
            "token.created",
            cg_runtime::activity::Severity::Info,
            &token,
        );
        cg_runtime::outbox::enqueue(&mut tx, entry).await?;
        tx.commit().await?;
        self.wake.wake();
        Ok(token)
    }

    pub async fn list(&self, include_revoked: bool) -> Result<Vec<Token>> {
        let filter = if include_revoked {
            ""
        } else {
            "WHERE revoked_at IS NULL"
        };
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_tokens {filter} ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_from)
        .collect()
    }

    pub async fn get(&self, id: &str) -> Result<Token> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| token_from(&r))
            .transpose()?
            .ok_or_else(|| Error::not_found("token", id))
    }

    /// Revokes a token; revoking a revoked one changes nothing. The last
    /// valid admin token cannot be revoked, so the gateway never locks
    /// everybody out.
    pub async fn revoke(&self, id: &str) -> Result<Token> {
        let token = self.get(id).await?;
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let mut tx = self.pool.begin().await?;
        if token.role == Role::Admin {
            let admins = sqlx::query(&format!(
                "SELECT id FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL{}",
                self.lock_rows
            ))
            .fetch_all(&mut *tx)
            .await?
            .len();
            if admins <= 1 {
                return Err(Error::FailedPrecondition(
                    "this is the last admin token; create another admin token first".into(),
                ));
            }
        }
        sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(now_millis())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let entry = token_activity(
            "token.revoked",
            cg_runtime::activity::Severity::Warning,
            &token,
        );
        cg_runtime::outbox::enqueue(&mut tx, entry).await?;
        tx.commit().await?;
        self.wake.wake();
        // Forget every cached lookup: this replica stops honouring it now.
        self.cache.write().unwrap().clear();
        self.get(id).await
    }

    /// Makes sure an admin can sign in. With a configured token, stores it
    /// (once; a revoked one stays revoked). Without one, when no valid admin
    /// token exists, creates one and returns its secret to print once.
    pub async fn bootstrap(&self, configured: Option<&Secret>) -> Result<Option<Secret>> {
        if let Some(secret) = configured {
            let known: i64 = sqlx::query("SELECT COUNT(*) FROM api_tokens WHERE secret_hash = ?")
                .bind(secret.hash())
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
            if known == 0 {
                self.insert_ignoring_race(secret).await?;
                tracing::info!("bootstrap admin token stored from config");
            }
            return Ok(None);
        }
        let admins: i64 = sqlx::query(
            "SELECT COUNT(*) FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        if admins > 0 {
            return Ok(None);
        }
        let secret = Secret::generate();
        self.insert("bootstrap", Role::Admin, &secret).await?;
        Ok(Some(secret))
    }

    async fn insert_ignoring_race(&self, secret: &Secret) -> Result<()> {
        match self.insert("bootstrap", Role::Admin, secret).await {
            Err(Error::Storage(e)) if cg_runtime::db::is_unique_violation(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }

    #[test]
    fn a_secret_without_the_prefix_is_rejected() {
        assert!(Secret::parse("abcdefghijklmnopqrstuvwxyz").is_err());
        assert!(Secret::parse(Secret::generate().expose()).is_ok());
    }

    #[test]
    fn a_bearer_header_must_name_the_scheme() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Basic Zm9vOmJhcg==".parse().unwrap());
        assert!(bearer(&h).is_err());
        let secret = Secret::generate();
        h.insert(
            "authorization",
            format!("Bearer {}", secret.expose()).parse().unwrap(),
        );
        assert_eq!(bearer(&h).unwrap().unwrap().hash(), secret.hash());
    }

    #[test]
    fn secrets_are_hashed_and_never_printed() {
        let s = Secret::generate();
        assert_eq!(s.hash().len(), 64);
        assert!(!format!("{s:?}").contains(s.expose()));
    }
}
