//! Plugin data in the gateway's store (`kv` and `streams`, granted in config): host calls
//! on wasm, an in-memory stand-in in native tests. Keys and stream names are private to
//! the plugin and, during a tenant's request, to that tenant.

pub use crate::bindings::kv::StoreError;
pub use crate::bindings::streams::Entry;

/// Key-value data with optional expiry, atomic counters and compare-and-swap.
pub mod kv {
    use super::{StoreError, imp};

    /// Reads a value.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        imp::get(key)
    }

    /// Writes a value, expiring after `ttl_ms` milliseconds when given.
    pub fn set(key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), StoreError> {
        imp::set(key, value, ttl_ms)
    }

    /// Deletes a key; whether it existed.
    pub fn delete(key: &str) -> Result<bool, StoreError> {
        imp::delete(key)
    }

    /// Atomically adds `delta` to an integer value (missing counts as 0); the new value.
    pub fn incr(key: &str, delta: i64) -> Result<i64, StoreError> {
        imp::incr(key, delta)
    }

    /// Writes `value` only if the current value is `expected` (`None`: absent).
    pub fn compare_and_swap(
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        imp::compare_and_swap(key, expected, value)
    }

    /// Up to `limit` keys starting with `prefix`, with their values, in key order.
    pub fn scan(prefix: &str, limit: u32) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        imp::scan(prefix, limit)
    }
}

/// Append-only streams of field lists, ordered by time (Redis Streams semantics).
pub mod streams {
    use super::{Entry, StoreError, imp};

    /// Appends an entry; its id (`<ms>-<seq>`).
    pub fn append(name: &str, fields: &[(&str, &str)]) -> Result<String, StoreError> {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        imp::append(name, &fields)
    }

    /// Entries appended in `[start_ms, end_ms]`, oldest first, at most `limit`.
    pub fn range(
        name: &str,
        start_ms: u64,
        end_ms: u64,
        limit: u32,
    ) -> Result<Vec<Entry>, StoreError> {
        imp::range(name, start_ms, end_ms, limit)
    }

    /// Entries after `after_id` (`"0"` for the start), oldest first, at most `limit`.
    pub fn read_after(name: &str, after_id: &str, limit: u32) -> Result<Vec<Entry>, StoreError> {
        imp::read_after(name, after_id, limit)
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    pub(super) use crate::bindings::kv::{compare_and_swap, delete, get, incr, scan, set};
    pub(super) use crate::bindings::streams::{append, range, read_after};
}

/// The native stand-in: one in-memory store per test thread. It keeps no time: values do
/// not expire, ids are `0-<n>`, and every entry lies in any time range.
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::{Entry, StoreError};

    #[derive(Default)]
    struct Memory {
        kv: BTreeMap<String, Vec<u8>>,
        streams: BTreeMap<String, Vec<Entry>>,
    }

    thread_local! {
        static MEMORY: RefCell<Memory> = RefCell::default();
    }

    fn with<R>(f: impl FnOnce(&mut Memory) -> R) -> R {
        MEMORY.with(|memory| f(&mut memory.borrow_mut()))
    }

    pub(super) fn get(key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(with(|m| m.kv.get(key).cloned()))
    }

    pub(super) fn set(key: &str, value: &[u8], _ttl_ms: Option<u64>) -> Result<(), StoreError> {
        with(|m| m.kv.insert(key.to_owned(), value.to_vec()));
        Ok(())
    }

    pub(super) fn delete(key: &str) -> Result<bool, StoreError> {
        Ok(with(|m| m.kv.remove(key).is_some()))
    }

    pub(super) fn incr(key: &str, delta: i64) -> Result<i64, StoreError> {
        with(|m| {
            let current = match m.kv.get(key) {
                None => 0,
                Some(bytes) => std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|text| text.parse::<i64>().ok())
                    .ok_or_else(|| StoreError::Invalid(format!("{key} is not an integer")))?,
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| StoreError::Invalid(format!("{key} would overflow")))?;
            m.kv.insert(key.to_owned(), next.to_string().into_bytes());
            Ok(next)
        })
    }

    pub(super) fn compare_and_swap(
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        Ok(with(|m| {
            let swapped = m.kv.get(key).map(Vec::as_slice) == expected;
            if swapped {
                m.kv.insert(key.to_owned(), value.to_vec());
            }
            swapped
        }))
    }

    pub(super) fn scan(prefix: &str, limit: u32) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(with(|m| {
            m.kv.range(prefix.to_owned()..)
                .take_while(|(key, _)| key.starts_with(prefix))
                .take(limit as usize)
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        }))
    }

    pub(super) fn append(name: &str, fields: &[(String, String)]) -> Result<String, StoreError> {
        Ok(with(|m| {
            let entries = m.streams.entry(name.to_owned()).or_default();
            let id = format!("0-{}", entries.len() + 1);
            entries.push(Entry {
                id: id.clone(),
                fields: fields.to_vec(),
            });
            id
        }))
    }

    pub(super) fn range(
        name: &str,
        _start_ms: u64,
        _end_ms: u64,
        limit: u32,
    ) -> Result<Vec<Entry>, StoreError> {
        read_after(name, "0", limit)
    }

    pub(super) fn read_after(
        name: &str,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<Entry>, StoreError> {
        let after = sequence(after_id);
        Ok(with(|m| {
            m.streams
                .get(name)
                .into_iter()
                .flatten()
                .filter(|entry| sequence(&entry.id) > after)
                .take(limit as usize)
                .cloned()
                .collect()
        }))
    }

    /// The stand-in's ids are `0-<n>`; `"0"` is before the first.
    fn sequence(id: &str) -> u64 {
        id.rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}
