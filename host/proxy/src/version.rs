//! API version labels (`v1`, `v2`, `v1.1`; the config refuses others): how a request
//! names one (`X-API-Version: 2` or `v2`, or a leading `/v2/` path segment), and which of
//! two labels is the higher.

use std::cmp::Ordering;

use http::HeaderName;

/// The header a request names its version in; it wins over a path prefix.
pub(crate) const X_API_VERSION: HeaderName = HeaderName::from_static("x-api-version");

/// A label as a request names it, spelt as routes do: lower case, and `2` as `v2`.
pub(crate) fn normalise(label: &str) -> String {
    let label = label.trim().to_ascii_lowercase();
    if label.starts_with(|c: char| c.is_ascii_digit()) {
        format!("v{label}")
    } else {
        label
    }
}

/// The version a path's first segment names (`/v2/orders` -> `v2`) and the path after it
/// (`/orders`).
pub(crate) fn from_path(path: &str) -> Option<(String, &str)> {
    let rest = path.strip_prefix("/v")?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let after = &rest[digits..];
    (digits > 0 && after.starts_with('/')).then(|| (format!("v{}", &rest[..digits]), after))
}

/// Orders route labels by their numbers, so the higher version is greater (`v1.10`
/// above `v1.9`).
pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    numbers(a).cmp(&numbers(b))
}

/// `v1.10` -> `[1, 10]`; `None` for a label that is not `v` and dot-separated numbers.
fn numbers(label: &str) -> Option<Vec<u64>> {
    label
        .strip_prefix('v')?
        .split('.')
        .map(|part| part.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_versions_by_number_or_label() {
        assert_eq!(normalise("2"), "v2");
        assert_eq!(normalise(" V2 "), "v2");
        assert_eq!(normalise("beta"), "beta");
    }

    #[test]
    fn only_a_whole_leading_v_number_segment_is_a_version_prefix() {
        assert_eq!(
            from_path("/v2/orders/1"),
            Some(("v2".to_owned(), "/orders/1"))
        );
        assert_eq!(from_path("/v10/x"), Some(("v10".to_owned(), "/x")));
        for path in [
            "/v2",
            "/v/orders",
            "/vx/orders",
            "/api/v2/orders",
            "/v2x/orders",
        ] {
            assert_eq!(from_path(path), None, "{path}");
        }
    }

    #[test]
    fn numbered_versions_compare_by_number() {
        assert_eq!(compare("v10", "v9"), Ordering::Greater);
        assert_eq!(compare("v1.10", "v1.9"), Ordering::Greater);
        assert_eq!(compare("v2", "v2.0"), Ordering::Less);
    }
}
