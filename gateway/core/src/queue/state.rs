//! A work queue's bookkeeping under one lock: messages ready to lease, messages out on lease
//! (by receipt, with their deadlines), and the receipts settled or expired recently, so a
//! second ack is told apart from a receipt that never was.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::{Item, Leased, SettleError};

/// How many settled or expired receipts are remembered for a precise answer (409 for a second
/// ack; "expired" rather than "unknown"). Older ones read as unknown.
const REMEMBERED: usize = 16_384;

#[derive(Debug, Default)]
pub(super) struct State {
    ready: VecDeque<Item>,
    leased: HashMap<String, Lease>,
    deadlines: BTreeSet<(Instant, String)>,
    recent: Recent,
}

#[derive(Debug)]
struct Lease {
    item: Item,
    deadline: Instant,
}

/// Why a receipt is no longer out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gone {
    Settled,
    Expired,
}

/// A bounded memory of receipts gone, oldest forgotten first.
#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<String>,
    settled: HashSet<String>,
    expired: HashSet<String>,
}

impl Recent {
    fn remember(&mut self, receipt: String, how: Gone) {
        if self.order.len() >= REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.settled.remove(&old);
            self.expired.remove(&old);
        }
        match how {
            Gone::Settled => self.settled.insert(receipt.clone()),
            Gone::Expired => self.expired.insert(receipt.clone()),
        };
        self.order.push_back(receipt);
    }

    fn why(&self, receipt: &str) -> SettleError {
        if self.settled.contains(receipt) {
            SettleError::AlreadySettled
        } else if self.expired.contains(receipt) {
            SettleError::Expired
        } else {
            SettleError::Unknown
        }
    }
}

impl State {
    /// Messages held: ready and on lease (what the capacity bounds).
    pub(super) fn len(&self) -> usize {
        self.ready.len() + self.leased.len()
    }

    pub(super) fn ready(&self) -> usize {
        self.ready.len()
    }

    pub(super) fn push_back(&mut self, item: Item) {
        self.ready.push_back(item);
    }

    /// A message handed back goes first: it has waited longest.
    pub(super) fn push_front(&mut self, item: Item) {
        self.ready.push_front(item);
    }

    /// Keeps only the ready messages `keep` says yes to.
    pub(super) fn retain_ready(&mut self, keep: impl Fn(&Item) -> bool) {
        self.ready.retain(|item| keep(item));
    }

    /// Ends the leases of the messages `which` says yes to, without handing them back (their
    /// receipts read as expired).
    pub(super) fn expire_leases_where(&mut self, which: impl Fn(&Item) -> bool) {
        let gone: Vec<(Instant, String)> = self
            .leased
            .iter()
            .filter(|(_, lease)| which(&lease.item))
            .map(|(receipt, lease)| (lease.deadline, receipt.clone()))
            .collect();
        for (deadline, receipt) in gone {
            self.leased.remove(&receipt);
            self.deadlines.remove(&(deadline, receipt.clone()));
            self.recent.remember(receipt, Gone::Expired);
        }
    }

    /// Leases up to `max` ready messages for `lease`, each under a fresh receipt.
    pub(super) fn lease(&mut self, max: usize, lease: Duration) -> Vec<Leased> {
        let deadline = Instant::now() + lease;
        let mut out = Vec::new();
        while out.len() < max {
            let Some(mut item) = self.ready.pop_front() else {
                break;
            };
            item.deliveries += 1;
            let receipt = uuid::Uuid::new_v4().simple().to_string();
            out.push(Leased {
                receipt: receipt.clone(),
                event: item.event.clone(),
                redelivered: item.deliveries > 1 || item.redelivered,
                deliveries: item.deliveries,
            });
            self.deadlines.insert((deadline, receipt.clone()));
            self.leased.insert(receipt, Lease { item, deadline });
        }
        out
    }

    /// Takes the message leased under `receipt` out of the lease table.
    pub(super) fn take(&mut self, receipt: &str) -> Result<Item, SettleError> {
        let Some(lease) = self.leased.remove(receipt) else {
            return Err(self.recent.why(receipt));
        };
        self.deadlines.remove(&(lease.deadline, receipt.to_owned()));
        self.recent.remember(receipt.to_owned(), Gone::Settled);
        Ok(lease.item)
    }

    /// The earliest lease deadline, if any message is out.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Every message whose lease ran out by `now`, out of the lease table.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<Item> {
        let mut expired = Vec::new();
        while let Some((at, _)) = self.deadlines.first()
            && *at <= now
        {
            let Some((_, receipt)) = self.deadlines.pop_first() else {
                break;
            };
            if let Some(lease) = self.leased.remove(&receipt) {
                expired.push(lease.item);
            }
            self.recent.remember(receipt, Gone::Expired);
        }
        expired
    }
}
