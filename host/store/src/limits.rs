//! Size limits shared by both backends, checked before any I/O.

use crate::StoreError;

/// The largest key, stream name or rate-limit key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// The largest value, or stream entry (its field names and values together), in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Refuses a key-like name (`what`) over [`MAX_KEY_BYTES`].
pub(crate) fn check_key(what: &'static str, key: &str) -> Result<(), StoreError> {
    check(what, key.len(), MAX_KEY_BYTES)
}

/// Refuses a value-like blob (`what`) over [`MAX_VALUE_BYTES`].
pub(crate) fn check_value(what: &'static str, value: &[u8]) -> Result<(), StoreError> {
    check(what, value.len(), MAX_VALUE_BYTES)
}

/// Refuses a stream entry whose field names and values add up to over
/// [`MAX_VALUE_BYTES`].
pub(crate) fn check_fields(fields: &[(String, String)]) -> Result<(), StoreError> {
    let size = fields
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    check("stream entry", size, MAX_VALUE_BYTES)
}

fn check(what: &'static str, size: usize, limit: usize) -> Result<(), StoreError> {
    if size > limit {
        Err(StoreError::TooLarge { what, size, limit })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_at_the_limit_passes_and_one_byte_more_is_refused() {
        assert!(check_key("key", &"k".repeat(MAX_KEY_BYTES)).is_ok());
        let error = check_key("key", &"k".repeat(MAX_KEY_BYTES + 1)).expect_err("too large");
        assert_eq!(
            error.to_string(),
            "key is 513 bytes, over the 512-byte limit"
        );
    }

    #[test]
    fn a_value_over_one_mebibyte_is_refused() {
        assert!(check_value("value", &vec![0; MAX_VALUE_BYTES]).is_ok());
        assert!(matches!(
            check_value("value", &vec![0; MAX_VALUE_BYTES + 1]),
            Err(StoreError::TooLarge { what: "value", .. })
        ));
    }

    #[test]
    fn a_stream_entry_counts_its_names_and_values_together() {
        let half = "v".repeat(MAX_VALUE_BYTES / 2);
        let at_limit = [("".to_owned(), half.clone()), ("".to_owned(), half.clone())];
        assert!(check_fields(&at_limit).is_ok());
        let over = [("n".to_owned(), half.clone()), ("".to_owned(), half)];
        assert!(matches!(
            check_fields(&over),
            Err(StoreError::TooLarge {
                what: "stream entry",
                size,
                ..
            }) if size == MAX_VALUE_BYTES + 1
        ));
    }
}
