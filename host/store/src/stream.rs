//! Stream entry ids and entries, with the ordering rules Redis Streams use.

use std::fmt;
use std::str::FromStr;

/// A stream entry id: the append time in Unix milliseconds, then a sequence number that
/// orders entries appended within the same millisecond. Displays as `ms-seq`.
///
/// ```
/// use archway_store::StreamId;
/// let id: StreamId = "1700000000000-3".parse().expect("valid id");
/// assert_eq!(id, StreamId { ms: 1_700_000_000_000, seq: 3 });
/// assert_eq!(id.to_string(), "1700000000000-3");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Unix time of the append, in milliseconds.
    pub ms: u64,
    /// Position among the entries appended in the same millisecond.
    pub seq: u64,
}

impl StreamId {
    /// The smallest id; `read_after(StreamId::MIN)` reads a stream from its start.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest id.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// The id right after this one, if there is one.
    pub fn successor(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }

    /// The id an append at `now_ms` gets after `last`: the current time when it is later
    /// than the last entry, otherwise the last entry's time with the next sequence number
    /// (so ids grow even when the clock steps back), as Redis `XADD *` does.
    pub(crate) fn for_append(last: Option<StreamId>, now_ms: u64) -> StreamId {
        match last {
            Some(last) if last.ms >= now_ms => last.successor().unwrap_or(StreamId::MAX),
            _ => StreamId { ms: now_ms, seq: 0 },
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Text that is not a `ms-seq` stream id.
#[derive(Debug, thiserror::Error)]
#[error("invalid stream id {input:?}: expected MS-SEQ, two unsigned integers")]
pub struct ParseStreamIdError {
    /// The text that was refused.
    pub input: String,
}

impl FromStr for StreamId {
    type Err = ParseStreamIdError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseStreamIdError {
            input: input.to_owned(),
        };
        let (ms, seq) = input.split_once('-').ok_or_else(invalid)?;
        Ok(StreamId {
            ms: ms.parse().map_err(|_| invalid())?,
            seq: seq.parse().map_err(|_| invalid())?,
        })
    }
}

/// One entry of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    /// Where the entry sits in its stream.
    pub id: StreamId,
    /// The entry's fields, name and value, in the order they were appended (as Redis
    /// `XADD` takes and `XRANGE` returns them; a name may repeat).
    pub fields: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_time_then_sequence() {
        let early = StreamId { ms: 5, seq: 9 };
        let late = StreamId { ms: 6, seq: 0 };
        assert!(early < late);
        assert_eq!(early.successor(), Some(StreamId { ms: 5, seq: 10 }));
        assert_eq!(
            StreamId {
                ms: 5,
                seq: u64::MAX
            }
            .successor(),
            Some(StreamId { ms: 6, seq: 0 })
        );
        assert_eq!(StreamId::MAX.successor(), None);
    }

    #[test]
    fn append_ids_grow_even_when_the_clock_does_not() {
        assert_eq!(StreamId::for_append(None, 7), StreamId { ms: 7, seq: 0 });
        let last = StreamId { ms: 7, seq: 0 };
        assert_eq!(
            StreamId::for_append(Some(last), 7),
            StreamId { ms: 7, seq: 1 }
        );
        assert_eq!(
            StreamId::for_append(Some(last), 3),
            StreamId { ms: 7, seq: 1 }
        );
        assert_eq!(
            StreamId::for_append(Some(last), 8),
            StreamId { ms: 8, seq: 0 }
        );
    }

    #[test]
    fn parse_refuses_anything_but_two_integers() {
        for bad in ["", "12", "12-", "-3", "a-1", "1-2-3", "1--2"] {
            assert!(bad.parse::<StreamId>().is_err(), "{bad}");
        }
        let error = "x".parse::<StreamId>().expect_err("invalid");
        assert_eq!(
            error.to_string(),
            "invalid stream id \"x\": expected MS-SEQ, two unsigned integers"
        );
    }
}
