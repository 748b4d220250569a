//! JSON records in the store: read, written whole, changed by compare-and-swap (the
//! backend writes the same keys), and listed by prefix. Every failure names what it was
//! doing.

use archway_sdk::kv;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::failure::Failure;

/// The most records a listing reads.
pub const SCAN_LIMIT: u32 = 10_000;

/// How often a change is tried again when another writer got in between.
const CAS_TRIES: usize = 8;

/// The record at `key`, if any.
pub fn get<T: DeserializeOwned>(key: &str, what: &str) -> Result<Option<T>, Failure> {
    let bytes = kv::get(key).map_err(|e| Failure::store(&format!("read {what}"), &e))?;
    bytes.map(|bytes| decode(&bytes, what)).transpose()
}

/// Writes `record` at `key`.
pub fn put<T: Serialize>(key: &str, record: &T, what: &str) -> Result<(), Failure> {
    kv::set(key, &encode(record), None).map_err(|e| Failure::store(&format!("write {what}"), &e))
}

/// Writes `record` at `key` unless a record is there; whether it was written.
pub fn create<T: Serialize>(key: &str, record: &T, what: &str) -> Result<bool, Failure> {
    kv::compare_and_swap(key, None, &encode(record))
        .map_err(|e| Failure::store(&format!("create {what}"), &e))
}

/// Applies `change` to the record at `key` and writes it back unless another writer
/// changed it meanwhile (then it reads again and retries); `None` when there is no
/// record. `change` may refuse with a failure, which is returned as it is.
pub fn update<T: DeserializeOwned + Serialize>(
    key: &str,
    what: &str,
    mut change: impl FnMut(&mut T) -> Result<(), Failure>,
) -> Result<Option<T>, Failure> {
    for _ in 0..CAS_TRIES {
        let Some(old) = kv::get(key).map_err(|e| Failure::store(&format!("read {what}"), &e))?
        else {
            return Ok(None);
        };
        let mut record: T = decode(&old, what)?;
        change(&mut record)?;
        let written = kv::compare_and_swap(key, Some(&old), &encode(&record))
            .map_err(|e| Failure::store(&format!("update {what}"), &e))?;
        if written {
            return Ok(Some(record));
        }
    }
    Err(Failure::conflict(
        &format!("{what} is changing too often to update; try again"),
        archway_sdk::serde_json::json!({}),
    ))
}

/// Every record whose key starts with `prefix`, as (key, record), in key order; records
/// that do not parse are logged and left out.
pub fn scan<T: DeserializeOwned>(prefix: &str, what: &str) -> Result<Vec<(String, T)>, Failure> {
    let found =
        kv::scan(prefix, SCAN_LIMIT).map_err(|e| Failure::store(&format!("list {what}"), &e))?;
    Ok(found
        .into_iter()
        .filter_map(|(key, bytes)| {
            let record = decode(&bytes, &format!("{what} {key}")).ok()?;
            Some((key, record))
        })
        .collect())
}

fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    archway_sdk::serde_json::to_vec(record).expect("records serialise: plain data, string keys")
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Failure> {
    archway_sdk::serde_json::from_slice(bytes).map_err(|_| Failure::corrupt(what))
}
