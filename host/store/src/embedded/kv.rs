//! The key-value table of the embedded store, with TTLs: each value carries its expiry
//! time, and an index ordered by expiry lets writes sweep expired keys cheaply.

use redb::{
    ReadTransaction, ReadableTable, StorageError, Table, TableDefinition, TableError,
    WriteTransaction,
};

/// Key → (expiry in Unix ms, 0 for none; value).
const VALUES: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("kv");
/// (expiry in Unix ms, key) for every key that has a TTL.
const EXPIRIES: TableDefinition<(u64, &str), ()> = TableDefinition::new("kv_expiries");

/// Expired keys one write removes at most, so a backlog never stalls a single write.
const SWEEP_BATCH: usize = 64;

/// Never expires.
pub(super) const NO_EXPIRY: u64 = 0;

fn is_live(expires_at: u64, now_ms: u64) -> bool {
    expires_at == NO_EXPIRY || expires_at > now_ms
}

/// Creates the tables in a new database.
pub(super) fn create(txn: &WriteTransaction) -> Result<(), TableError> {
    txn.open_table(VALUES)?;
    txn.open_table(EXPIRIES)?;
    Ok(())
}

/// The live value of `key`, with its expiry.
fn lookup(
    values: &impl ReadableTable<&'static str, (u64, &'static [u8])>,
    key: &str,
    now_ms: u64,
) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
    Ok(values.get(key)?.and_then(|entry| {
        let (expires_at, value) = entry.value();
        is_live(expires_at, now_ms).then(|| (expires_at, value.to_vec()))
    }))
}

pub(super) fn get(
    txn: &ReadTransaction,
    key: &str,
    now_ms: u64,
) -> Result<Option<Vec<u8>>, redb::Error> {
    let values = txn.open_table(VALUES)?;
    Ok(lookup(&values, key, now_ms)?.map(|(_, value)| value))
}

/// Live entries whose key starts with `prefix`, in key order.
pub(super) fn scan(
    txn: &ReadTransaction,
    prefix: &str,
    limit: usize,
    now_ms: u64,
) -> Result<Vec<(String, Vec<u8>)>, redb::Error> {
    let values = txn.open_table(VALUES)?;
    let mut found = Vec::new();
    for entry in values.range(prefix..)? {
        let (key, value) = entry?;
        let key = key.value();
        if !key.starts_with(prefix) || found.len() == limit {
            break;
        }
        let (expires_at, value) = value.value();
        if is_live(expires_at, now_ms) {
            found.push((key.to_owned(), value.to_vec()));
        }
    }
    Ok(found)
}

/// The key-value tables opened in one write transaction.
pub(super) struct KvTables<'txn> {
    values: Table<'txn, &'static str, (u64, &'static [u8])>,
    expiries: Table<'txn, (u64, &'static str), ()>,
    now_ms: u64,
}

impl<'txn> KvTables<'txn> {
    /// Opens the tables and removes a batch of expired keys.
    pub(super) fn open(txn: &'txn WriteTransaction, now_ms: u64) -> Result<Self, redb::Error> {
        let mut tables = Self {
            values: txn.open_table(VALUES)?,
            expiries: txn.open_table(EXPIRIES)?,
            now_ms,
        };
        tables.sweep()?;
        Ok(tables)
    }

    fn sweep(&mut self) -> Result<(), StorageError> {
        let due = self
            .expiries
            .range(..(self.now_ms + 1, ""))?
            .take(SWEEP_BATCH)
            .map(|entry| {
                let (due, _) = entry?;
                let (at, key) = due.value();
                Ok((at, key.to_owned()))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        for (at, key) in due {
            self.expiries.remove((at, key.as_str()))?;
            self.values.remove(key.as_str())?;
        }
        Ok(())
    }

    /// The live value of `key` with its expiry.
    pub(super) fn live(&self, key: &str) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        lookup(&self.values, key, self.now_ms)
    }

    /// Stores `value` under `key`, replacing any previous value and TTL.
    pub(super) fn put(
        &mut self,
        key: &str,
        value: &[u8],
        expires_at: u64,
    ) -> Result<(), StorageError> {
        self.remove(key)?;
        self.values.insert(key, (expires_at, value))?;
        if expires_at != NO_EXPIRY {
            self.expiries.insert((expires_at, key), ())?;
        }
        Ok(())
    }

    /// Removes `key`; true when it held a live value.
    pub(super) fn remove(&mut self, key: &str) -> Result<bool, StorageError> {
        let Some(old) = self.values.remove(key)? else {
            return Ok(false);
        };
        let (expires_at, _) = old.value();
        drop(old);
        if expires_at != NO_EXPIRY {
            self.expiries.remove((expires_at, key))?;
        }
        Ok(is_live(expires_at, self.now_ms))
    }
}
