//! The streams table of the embedded store: one table keyed by (stream, ms, seq), so a
//! stream's entries sit together in id order.

use redb::{ReadTransaction, ReadableTable, TableDefinition, TableError, WriteTransaction};

use crate::{StreamEntry, StreamId};

const ENTRIES: TableDefinition<(&str, u64, u64), &[u8]> = TableDefinition::new("streams");

/// Creates the table in a new database.
pub(super) fn create(txn: &WriteTransaction) -> Result<(), TableError> {
    txn.open_table(ENTRIES)?;
    Ok(())
}

/// Appends `payload` to `stream` with the next id at `now_ms`.
pub(super) fn append(
    txn: &WriteTransaction,
    stream: &str,
    payload: &[u8],
    now_ms: u64,
) -> Result<StreamId, redb::Error> {
    let mut entries = txn.open_table(ENTRIES)?;
    let last = entries
        .range(key(stream, StreamId::MIN)..=key(stream, StreamId::MAX))?
        .next_back()
        .transpose()?
        .map(|(last, _)| {
            let (_, ms, seq) = last.value();
            StreamId { ms, seq }
        });
    let id = StreamId::for_append(last, now_ms);
    entries.insert(key(stream, id), payload)?;
    Ok(id)
}

/// Up to `limit` entries of `stream` with ids in `from..=to`, in id order.
pub(super) fn entries(
    txn: &ReadTransaction,
    stream: &str,
    from: StreamId,
    to: StreamId,
    limit: usize,
) -> Result<Vec<StreamEntry>, redb::Error> {
    let entries = txn.open_table(ENTRIES)?;
    entries
        .range(key(stream, from)..=key(stream, to))?
        .take(limit)
        .map(|entry| {
            let (id, payload) = entry?;
            let (_, ms, seq) = id.value();
            Ok(StreamEntry {
                id: StreamId { ms, seq },
                payload: payload.value().to_vec(),
            })
        })
        .collect()
}

fn key(stream: &str, id: StreamId) -> (&str, u64, u64) {
    (stream, id.ms, id.seq)
}
