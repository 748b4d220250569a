//! Where each kind of data lives in the Redis keyspace: everything sits under `archway:`,
//! and values, streams, rate-limit counters and cached responses never share a key. A store key `k` is the
//! Redis string `archway:kv:k` and a stream `s` the Redis stream `archway:stream:s`,
//! unencoded, so other Redis clients find them by name (the README documents this).

/// The pub/sub channel of the change feed.
pub(super) const CHANGES_CHANNEL: &str = "archway:changes";

const VALUE_PREFIX: &str = "archway:kv:";

pub(super) fn value(key: &str) -> String {
    format!("{VALUE_PREFIX}{key}")
}

/// The store key back from its Redis key.
pub(super) fn from_value(redis_key: &str) -> Option<&str> {
    redis_key.strip_prefix(VALUE_PREFIX)
}

/// A `SCAN MATCH` pattern for the values whose key starts with `prefix`.
pub(super) fn value_pattern(prefix: &str) -> String {
    let mut pattern = String::from(VALUE_PREFIX);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

pub(super) fn stream(name: &str) -> String {
    format!("archway:stream:{name}")
}

pub(super) fn rate(key: &str) -> String {
    format!("archway:rate:{key}")
}

/// A sliding window's sorted set of arrival times (apart from GCRA's counter of the same key).
pub(super) fn window(key: &str) -> String {
    format!("archway:window:{key}")
}

pub(super) fn cache(key: &str) -> String {
    format!("archway:cache:{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_patterns_escape_glob_characters() {
        assert_eq!(value_pattern("a*b?[c]\\"), r"archway:kv:a\*b\?\[c\]\\*");
        assert_eq!(from_value(&value("x:1")), Some("x:1"));
    }
}
