//! Minted certificates by server name: bounded, oldest out first, and an
//! entry counts only until its renewal time.
//!
//! One mutex over a hash map: the lock is held for a lookup or an insert
//! (well under a microsecond), never while minting, so a new name does not
//! stall handshakes for names already cached.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::SystemTime,
};

pub(super) struct Cache<V> {
    inner: Mutex<Inner<V>>,
    capacity: usize,
}

struct Inner<V> {
    entries: HashMap<Arc<str>, Entry<V>>,
    /// Names in the order they were (re)inserted, each with the sequence
    /// number of that insertion: an older number than the entry's means the
    /// name was renewed since, and the queue item is stale.
    order: VecDeque<(Arc<str>, u64)>,
    next_seq: u64,
}

struct Entry<V> {
    value: V,
    renew_at: SystemTime,
    seq: u64,
}

impl<V: Clone> Cache<V> {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
                next_seq: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        // Nothing under the lock can panic half-way through an update that
        // matters: a poisoned cache is still a consistent one.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value for `name`, unless it is due for renewal at `now`.
    pub(super) fn get(&self, name: &str, now: SystemTime) -> Option<V> {
        let inner = self.lock();
        let entry = inner.entries.get(name)?;
        (now < entry.renew_at).then(|| entry.value.clone())
    }

    /// Stores `value` for `name` and returns what the cache now holds for
    /// it: when another thread stored a current value for the same name
    /// first, that one, so that every handshake sees one certificate per name.
    pub(super) fn insert(&self, name: &str, value: V, renew_at: SystemTime, now: SystemTime) -> V {
        let mut inner = self.lock();
        if let Some(entry) = inner.entries.get(name)
            && now < entry.renew_at
        {
            return entry.value.clone();
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let name: Arc<str> = Arc::from(name);
        inner.entries.insert(
            Arc::clone(&name),
            Entry {
                value: value.clone(),
                renew_at,
                seq,
            },
        );
        inner.order.push_back((name, seq));

        let Inner { entries, order, .. } = &mut *inner;
        while entries.len() > self.capacity {
            let Some((oldest, seq)) = order.pop_front() else {
                break;
            };
            if entries.get(&oldest).is_some_and(|e| e.seq == seq) {
                entries.remove(&oldest);
            }
        }
        // Renewals leave stale items behind; drop them before the queue
        // outgrows the map by much.
        if order.len() > 2 * self.capacity {
            order.retain(|(name, seq)| entries.get(name).is_some_and(|e| e.seq == *seq));
        }
        value
    }

    pub(super) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn times() -> (SystemTime, SystemTime) {
        let now = SystemTime::now();
        (now, now + Duration::from_hours(1))
    }

    #[test]
    fn returns_what_was_stored() {
        let cache = Cache::new(10);
        let (now, later) = times();
        assert_eq!(cache.get("a", now), None);
        assert_eq!(cache.insert("a", 1, later, now), 1);
        assert_eq!(cache.get("a", now), Some(1));
    }

    #[test]
    fn keeps_the_first_of_two_racing_inserts() {
        let cache = Cache::new(10);
        let (now, later) = times();
        cache.insert("a", 1, later, now);
        assert_eq!(cache.insert("a", 2, later, now), 1);
        assert_eq!(cache.get("a", now), Some(1));
    }

    #[test]
    fn entries_due_for_renewal_are_missing_and_replaced() {
        let cache = Cache::new(10);
        let (now, later) = times();
        cache.insert("a", 1, later, now);
        assert_eq!(cache.get("a", later), None);
        let much_later = later + Duration::from_hours(1);
        assert_eq!(cache.insert("a", 2, much_later, later), 2);
        assert_eq!(cache.get("a", later), Some(2));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn evicts_the_oldest_beyond_capacity() {
        let cache = Cache::new(2);
        let (now, later) = times();
        cache.insert("a", 1, later, now);
        cache.insert("b", 2, later, now);
        cache.insert("c", 3, later, now);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a", now), None);
        assert_eq!(cache.get("b", now), Some(2));
        assert_eq!(cache.get("c", now), Some(3));
    }

    #[test]
    fn a_renewed_name_counts_as_new() {
        let cache = Cache::new(2);
        let (now, later) = times();
        let much_later = later + Duration::from_hours(1);
        cache.insert("a", 1, later, now);
        cache.insert("b", 2, much_later, now);
        // "a" renewed: now younger than "b".
        cache.insert("a", 3, much_later, later);
        cache.insert("c", 4, much_later, later);
        assert_eq!(cache.get("b", later), None);
        assert_eq!(cache.get("a", later), Some(3));
        assert_eq!(cache.get("c", later), Some(4));
    }

    #[test]
    fn stale_queue_items_stay_bounded() {
        let cache = Cache::new(2);
        let mut now = SystemTime::now();
        for i in 0..100 {
            let renew_at = now + Duration::from_secs(1);
            cache.insert("a", i, renew_at, now);
            now = renew_at;
        }
        assert_eq!(cache.len(), 1);
        assert!(cache.lock().order.len() <= 5);
    }
}
