//! `OnceMap`: the shared-state primitive behind [`crate::PromptCache`] and
//! [`crate::PromptLibrary`].
//!
//! A `std::sync::Mutex` guards only a `HashMap` from key to an
//! `Arc<tokio::sync::OnceCell>`: the lock is taken to look up or insert the
//! cell and released before anything is awaited. The slow work (reading a
//! file, running TTS) happens inside `OnceCell::get_or_try_init`, which lets
//! exactly one caller per key initialise while concurrent callers for the
//! same key wait for its result; different keys never wait on each other.
//! A failed initialisation leaves the cell empty (the next caller retries)
//! and drops the entry. A mailbox task was considered and rejected: it would
//! need a runtime at construction and still must not run the slow work
//! itself, so it adds a hop without removing the per-key coordination.
//!
//! Memory is bounded by `capacity` entries, evicted oldest-inserted first.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OnceCell;

pub(crate) struct OnceMap<K, V> {
    inner: Mutex<Inner<K, V>>,
    capacity: usize,
}

struct Inner<K, V> {
    cells: HashMap<K, Arc<OnceCell<V>>>,
    order: VecDeque<K>,
}

impl<K: Eq + Hash + Clone, V: Clone> OnceMap<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { inner: Mutex::new(Inner { cells: HashMap::new(), order: VecDeque::new() }), capacity: capacity.max(1) }
    }

    pub(crate) fn with_capacity(self, capacity: usize) -> Self {
        Self { capacity: capacity.max(1), ..self }
    }

    /// Returns the value for `key`, running `init` if no one has produced it.
    pub(crate) async fn get_or_try_init<E, F, Fut>(&self, key: K, init: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = self.cell(&key);
        let result = cell.get_or_try_init(init).await.cloned();
        if result.is_err() {
            self.forget_if_empty(&key, &cell);
        }
        result
    }

    /// Number of entries (including ones still being produced).
    pub(crate) fn len(&self) -> usize {
        self.lock().cells.len()
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.cells.clear();
        inner.order.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // Nothing panics while the lock is held; recover the map if it ever does.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cell(&self, key: &K) -> Arc<OnceCell<V>> {
        let mut inner = self.lock();
        if let Some(cell) = inner.cells.get(key) {
            return Arc::clone(cell);
        }
        while inner.cells.len() >= self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.cells.remove(&old);
                }
                None => break,
            }
        }
        let cell = Arc::new(OnceCell::new());
        inner.cells.insert(key.clone(), Arc::clone(&cell));
        inner.order.push_back(key.clone());
        cell
    }

    fn forget_if_empty(&self, key: &K, cell: &Arc<OnceCell<V>>) {
        let mut inner = self.lock();
        let same = inner.cells.get(key).is_some_and(|current| Arc::ptr_eq(current, cell));
        if same && !cell.initialized() {
            inner.cells.remove(key);
            inner.order.retain(|k| k != key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_init_and_failures_retry() {
        let map = OnceMap::<u32, u32>::new(8);
        let runs = AtomicUsize::new(0);
        let init = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, ()>(7)
        };
        let (a, b) = tokio::join!(map.get_or_try_init(1, init), map.get_or_try_init(1, init));
        assert_eq!((a, b), (Ok(7), Ok(7)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        assert_eq!(map.get_or_try_init(2, || async { Err::<u32, _>("boom") }).await, Err("boom"));
        assert_eq!(map.len(), 1);
        assert_eq!(map.get_or_try_init(2, || async { Ok::<_, &str>(9) }).await, Ok(9));
    }

    #[tokio::test]
    async fn evicts_oldest_beyond_capacity() {
        let map = OnceMap::<u32, u32>::new(2);
        for k in 0..5 {
            map.get_or_try_init(k, || async move { Ok::<_, ()>(k) }).await.unwrap();
        }
        assert_eq!(map.len(), 2);
        let inner = map.lock();
        assert!(inner.cells.contains_key(&3) && inner.cells.contains_key(&4));
        assert_eq!(inner.order.len(), 2);
    }
}
