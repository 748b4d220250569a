//! The stream-entries table of the embedded store: one table keyed by (stream, ms, seq),
//! so a stream's entries sit together in id order, each holding its fields as redb
//! (name, value) pairs.

use redb::{ReadTransaction, ReadableTable, TableDefinition, TableError, WriteTransaction};

use crate::{StreamEntry, StreamId};

/// An entry's place: its stream, then its id.
type EntryKey<'a> = (&'a str, u64, u64);

/// An entry's fields, name and value, in order.
type Fields<'a> = Vec<(&'a str, &'a str)>;

/// Named apart from the `streams` table of earlier versions, whose entries were one
/// opaque payload: a file that has it still opens, and that table is left alone.
const ENTRIES: TableDefinition<EntryKey, Fields> = TableDefinition::new("stream-entries");

/// Creates the table in a new database.
pub(super) fn create(txn: &WriteTransaction) -> Result<(), TableError> {
    txn.open_table(ENTRIES)?;
    Ok(())
}

/// Appends an entry of `fields` to `stream` with the next id at `now_ms`.
pub(super) fn append(
    txn: &WriteTransaction,
    stream: &str,
    fields: &[(String, String)],
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
    let fields: Fields = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    entries.insert(key(stream, id), fields)?;
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
            let (id, fields) = entry?;
            let (_, ms, seq) = id.value();
            Ok(StreamEntry {
                id: StreamId { ms, seq },
                fields: fields
                    .value()
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value.to_owned()))
                    .collect(),
            })
        })
        .collect()
}

fn key(stream: &str, id: StreamId) -> EntryKey<'_> {
    (stream, id.ms, id.seq)
}
