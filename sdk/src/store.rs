//! Plugin data in the gateway's store (`kv` and `streams`, granted in config): host calls
//! on wasm, an in-memory stand-in in native tests. Keys and stream names are private to
//! the plugin and, during a tenant's request, to that tenant; names
//! `shared/<namespace>/...` reach a namespace the plugin's `share` config joins, the same
//! data for every plugin that joined it (the native stand-in does not check `share`).

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

/// The native stand-in: one in-memory store per test thread, on the wall clock like the
/// real one: values expire after their TTL, stream ids are `<milliseconds>-<sequence>`,
/// and `range` selects entries by the time in their id.
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::{Entry, StoreError};

    /// A value and when it expires (Unix milliseconds).
    type Stored = (Vec<u8>, Option<u64>);

    #[derive(Default)]
    struct Memory {
        kv: BTreeMap<String, Stored>,
        streams: BTreeMap<String, Vec<Entry>>,
    }

    thread_local! {
        static MEMORY: RefCell<Memory> = RefCell::default();
    }

    fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Runs `f` on the memory after dropping the values whose TTL has passed.
    fn with<R>(f: impl FnOnce(&mut Memory) -> R) -> R {
        MEMORY.with(|memory| {
            let mut memory = memory.borrow_mut();
            let now = now_ms();
            memory
                .kv
                .retain(|_, (_, expires)| expires.is_none_or(|at| at > now));
            f(&mut memory)
        })
    }

    pub(super) fn get(key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(with(|m| m.kv.get(key).map(|(value, _)| value.clone())))
    }

    pub(super) fn set(key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), StoreError> {
        let expires = ttl_ms.map(|ttl| now_ms().saturating_add(ttl));
        with(|m| m.kv.insert(key.to_owned(), (value.to_vec(), expires)));
        Ok(())
    }

    pub(super) fn delete(key: &str) -> Result<bool, StoreError> {
        Ok(with(|m| m.kv.remove(key).is_some()))
    }

    pub(super) fn incr(key: &str, delta: i64) -> Result<i64, StoreError> {
        with(|m| {
            let (current, expires) = match m.kv.get(key) {
                None => (0, None),
                Some((bytes, expires)) => (
                    std::str::from_utf8(bytes)
                        .ok()
                        .and_then(|text| text.parse::<i64>().ok())
                        .ok_or_else(|| StoreError::Invalid(format!("{key} is not an integer")))?,
                    *expires,
                ),
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| StoreError::Invalid(format!("{key} would overflow")))?;
            m.kv.insert(key.to_owned(), (next.to_string().into_bytes(), expires));
            Ok(next)
        })
    }

    pub(super) fn compare_and_swap(
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        Ok(with(|m| {
            let swapped = m.kv.get(key).map(|(current, _)| current.as_slice()) == expected;
            if swapped {
                m.kv.insert(key.to_owned(), (value.to_vec(), None));
            }
            swapped
        }))
    }

    pub(super) fn scan(prefix: &str, limit: u32) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(with(|m| {
            m.kv.range(prefix.to_owned()..)
                .take_while(|(key, _)| key.starts_with(prefix))
                .take(limit as usize)
                .map(|(key, (value, _))| (key.clone(), value.clone()))
                .collect()
        }))
    }

    pub(super) fn append(name: &str, fields: &[(String, String)]) -> Result<String, StoreError> {
        Ok(with(|m| {
            let entries = m.streams.entry(name.to_owned()).or_default();
            let now = now_ms();
            // Ids increase within a stream, as on the real store, even within one millisecond.
            let id = match entries.last().map(|entry| parse_id(&entry.id)) {
                Some((ms, seq)) if ms >= now => (ms, seq + 1),
                _ => (now, 0),
            };
            let id = format!("{}-{}", id.0, id.1);
            entries.push(Entry {
                id: id.clone(),
                fields: fields.to_vec(),
            });
            id
        }))
    }

    pub(super) fn range(
        name: &str,
        start_ms: u64,
        end_ms: u64,
        limit: u32,
    ) -> Result<Vec<Entry>, StoreError> {
        Ok(entries(name, limit, |(ms, _)| {
            (start_ms..=end_ms).contains(&ms)
        }))
    }

    pub(super) fn read_after(
        name: &str,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<Entry>, StoreError> {
        let after = parse_id(after_id);
        Ok(entries(name, limit, |id| id > after))
    }

    /// Up to `limit` entries of the stream whose id passes `keep`, oldest first.
    fn entries(name: &str, limit: u32, keep: impl Fn((u64, u64)) -> bool) -> Vec<Entry> {
        with(|m| {
            m.streams
                .get(name)
                .into_iter()
                .flatten()
                .filter(|entry| keep(parse_id(&entry.id)))
                .take(limit as usize)
                .cloned()
                .collect()
        })
    }

    /// An id `<milliseconds>-<sequence>` as numbers; `"0"` is before every entry.
    fn parse_id(id: &str) -> (u64, u64) {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::{kv, streams};

    fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    #[test]
    fn the_fake_store_expires_values_after_their_ttl() {
        kv::set("short", b"v", Some(30)).expect("set");
        kv::set("kept", b"v", None).expect("set");
        assert!(kv::get("short").expect("get").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(kv::get("short").expect("get"), None);
        assert_eq!(kv::get("kept").expect("get").as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn the_fake_streams_select_by_the_time_in_their_ids() {
        let first = streams::append("log", &[("n", "1")]).expect("append");
        std::thread::sleep(Duration::from_millis(20));
        let split = now_ms();
        let second = streams::append("log", &[("n", "2")]).expect("append");
        let ids =
            |entries: Vec<super::Entry>| entries.into_iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(
            ids(streams::range("log", split, u64::MAX, 10).expect("range")),
            std::slice::from_ref(&second)
        );
        assert_eq!(
            ids(streams::range("log", 0, split - 1, 10).expect("range")),
            std::slice::from_ref(&first)
        );
        assert_eq!(
            ids(streams::read_after("log", &first, 10).expect("read")),
            [second]
        );
    }
}
