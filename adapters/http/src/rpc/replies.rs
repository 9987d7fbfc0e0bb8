//! Asynchronous replies (`Prefer: respond-async`): each request gets a random handle, and
//! `GET /replies/{id}` answers `202` while it is pending (waiting up to `?wait=N` seconds for
//! it first), then the reply (or the error it came to, `504` after its deadline) for
//! `rpc.reply_ttl_ms`, then `404`. Bounded: at `rpc.max_async_replies` a new asynchronous
//! request is refused with 503 once the expired entries are gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::access::{self, Caller};
use crate::error::ApiError;
use crate::state::HttpState;

/// A finished answer, kept to be served again on every poll.
#[derive(Debug)]
struct Stored {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

type Outcome = Option<Arc<Stored>>;

#[derive(Debug)]
struct Entry {
    owner: Option<Arc<str>>,
    expires: Instant,
    outcome: watch::Receiver<Outcome>,
}

/// The asynchronous replies of every listener; cheap to clone.
#[derive(Debug, Clone)]
pub struct AsyncReplies {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    capacity: usize,
    ttl: Duration,
}

/// The request's side of one entry: completes it.
#[derive(Debug)]
pub(super) struct Handle {
    id: String,
    sender: watch::Sender<Outcome>,
    replies: AsyncReplies,
}

impl AsyncReplies {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: Arc::default(),
            capacity,
            ttl,
        }
    }

    /// Opens an entry for a request of `owner` that may run until `deadline`.
    pub(super) fn open(
        &self,
        owner: Option<Arc<str>>,
        deadline: Instant,
    ) -> Result<Handle, ApiError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (sender, outcome) = watch::channel(None);
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            let now = Instant::now();
            entries.retain(|_, e| e.expires > now);
        }
        if entries.len() >= self.capacity {
            metrics::counter!("switchyard_rpc_refused_total", "reason" => "async_full")
                .increment(1);
            let mut api = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!("{} asynchronous requests are held already", self.capacity),
            );
            api.retry_after = Some(Duration::from_secs(1));
            return Err(api);
        }
        let expires = deadline + self.ttl;
        let entry = Entry {
            owner,
            expires,
            outcome,
        };
        entries.insert(id.clone(), entry);
        Ok(Handle {
            id,
            sender,
            replies: self.clone(),
        })
    }

    /// The entry `id` if it is there, unexpired, and `caller` may read it.
    fn find(&self, id: &str, caller: Option<&str>) -> Option<watch::Receiver<Outcome>> {
        let mut entries = self.lock();
        let entry = entries.get(id)?;
        if entry.expires <= Instant::now() {
            entries.remove(id);
            return None;
        }
        let owner = entry.owner.as_deref();
        owner
            .is_none_or(|owner| caller == Some(owner))
            .then(|| entry.outcome.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Handle {
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// Stores the answer for `rpc.reply_ttl_ms` from now.
    pub(super) async fn complete(self, response: Response) {
        let (parts, body) = response.into_parts();
        // Replies are bounded by the sinks (`MAX_REPLY_BYTES`), error bodies are small.
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let stored = Stored {
            status: parts.status,
            headers: parts.headers,
            body,
        };
        if let Some(entry) = self.replies.lock().get_mut(&self.id) {
            entry.expires = Instant::now() + self.replies.ttl;
        }
        self.sender.send_replace(Some(Arc::new(stored)));
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyQuery {
    /// Long poll: seconds to wait for a pending reply (capped by `http.poll_max_wait_s`).
    wait: Option<u64>,
}

/// `GET /replies/{id}`.
pub(crate) async fn get(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    Caller(caller): Caller,
) -> Result<Response, ApiError> {
    let caller = caller.map_err(|denial| ApiError::denied(&denial))?;
    let query: ReplyQuery =
        crate::query::parse(&access::query_without_token(raw.as_deref(), &state))?;
    let caller_id = caller.as_ref().map(|p| &*p.id);
    let Some(mut outcome) = state.rpc.replies.find(&id, caller_id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_reply",
            "no reply with this id: unknown, or expired",
        ));
    };
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(state.config.poll_max_wait_s));
    if outcome.borrow().is_none() && !wait.is_zero() {
        let shutdown = state.shutdown.clone();
        tokio::select! {
            _ = tokio::time::timeout(wait, outcome.wait_for(Option::is_some)) => {}
            () = shutdown.cancelled() => {}
        }
    }
    let stored = outcome.borrow().clone();
    Ok(match stored {
        Some(stored) => {
            let mut response = Response::new(Body::from(stored.body.clone()));
            *response.status_mut() = stored.status;
            *response.headers_mut() = stored.headers.clone();
            response
        }
        None => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "status": "pending" })),
        )
            .into_response(),
    })
}
