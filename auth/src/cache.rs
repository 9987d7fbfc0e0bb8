//! Tokens already verified, so that a client sending the same token on every request (the
//! common case: a session's token) pays for the signature check once. Bounded: when full, an
//! arbitrary entry makes room (a miss only costs a verification). An entry is used only
//! while its token is unexpired; the cache lives as long as the authenticator, so a reload
//! that changes keys or grants starts empty.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use switchyard_core::principal::Principal;

/// Entries kept at most.
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<Box<str>, Entry>>,
}

#[derive(Debug)]
struct Entry {
    principal: Arc<Principal>,
    /// `exp` plus the leeway, in seconds since the epoch.
    valid_until: u64,
}

impl TokenCache {
    /// The principal of `token`, if it was verified and has not expired since.
    pub fn get(&self, token: &str) -> Option<Arc<Principal>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get(token)?;
        (now() < entry.valid_until).then(|| entry.principal.clone())
    }

    /// Remembers a verified `token` until `valid_until`.
    pub fn insert(&self, token: &str, principal: Arc<Principal>, valid_until: u64) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= CAPACITY && !entries.contains_key(token) {
            let now = now();
            entries.retain(|_, e| e.valid_until > now);
            if entries.len() >= CAPACITY
                && let Some(victim) = entries.keys().next().cloned()
            {
                entries.remove(&victim);
            }
        }
        entries.insert(
            token.into(),
            Entry {
                principal,
                valid_until,
            },
        );
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Arc<Principal> {
        Arc::new(Principal {
            id: "p".into(),
            method: "jwt",
            publish: vec![],
            subscribe: vec![],
            rate: None,
            streams: None,
        })
    }

    #[test]
    fn an_entry_serves_until_it_expires_and_the_cache_stays_bounded() {
        let cache = TokenCache::default();
        cache.insert("fresh", principal(), now() + 60);
        cache.insert("stale", principal(), now().saturating_sub(1));
        assert!(cache.get("fresh").is_some());
        assert!(cache.get("stale").is_none(), "expired entries are not used");
        for i in 0..CAPACITY * 2 {
            cache.insert(&format!("t{i}"), principal(), now() + 60);
        }
        let len = cache.entries.lock().expect("lock").len();
        assert!(len <= CAPACITY, "{len}");
    }
}
