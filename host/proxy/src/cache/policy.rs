//! Which responses a shared cache may keep, and for how long: a successful answer (not a
//! partial one) that sets no cookie, whose `Cache-Control` allows a shared cache to store
//! it (`no-store`, `private` and `no-cache` do not), kept for the route's lifetime or the
//! upstream's `s-maxage`/`max-age` (less its `Age`), whichever ends first.

use std::time::Duration;

use http::{HeaderMap, HeaderName, StatusCode, header};

/// How long a response may be kept; `None` when it must not be.
pub(crate) fn lifetime(
    status: StatusCode,
    headers: &HeaderMap,
    route_ttl: Duration,
) -> Option<Duration> {
    if !status.is_success() || status == StatusCode::PARTIAL_CONTENT {
        return None;
    }
    if headers.contains_key(header::SET_COOKIE) || vary(headers).is_none() {
        return None;
    }
    let mut max_age = None;
    let mut shared_max_age = None;
    for directive in list(headers, &header::CACHE_CONTROL) {
        let (name, value) = match directive.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (directive, None),
        };
        let seconds = || value.and_then(|value| value.parse::<u64>().ok());
        if name.eq_ignore_ascii_case("no-store")
            || name.eq_ignore_ascii_case("private")
            || name.eq_ignore_ascii_case("no-cache")
        {
            return None;
        } else if name.eq_ignore_ascii_case("max-age") {
            // A max-age that does not parse means the response is already stale.
            max_age = Some(seconds().unwrap_or(0));
        } else if name.eq_ignore_ascii_case("s-maxage") {
            shared_max_age = Some(seconds().unwrap_or(0));
        }
    }
    let mut lifetime = route_ttl;
    if let Some(fresh_for) = shared_max_age.or(max_age) {
        let age = headers
            .get(header::AGE)
            .and_then(|age| age.to_str().ok()?.trim().parse::<u64>().ok())
            .unwrap_or(0);
        lifetime = lifetime.min(Duration::from_secs(fresh_for.saturating_sub(age)));
    }
    (!lifetime.is_zero()).then_some(lifetime)
}

/// The request headers the response varies by; `None` for `Vary: *` (it varies by
/// something no header shows, so it cannot be cached) or a name that is not a header name.
pub(crate) fn vary(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for name in list(headers, &header::VARY) {
        if name == "*" {
            return None;
        }
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Some(names)
}

/// The comma-separated items of every `name` header, trimmed; a value that is not text
/// counts as one item no rule matches.
fn list<'h>(headers: &'h HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'h str> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("\u{fffd}").split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn of(pairs: &[(&'static str, &'static str)]) -> Option<Duration> {
        lifetime(StatusCode::OK, &headers(pairs), TTL)
    }

    #[test]
    fn a_plain_success_is_kept_for_the_routes_lifetime() {
        assert_eq!(of(&[]), Some(TTL));
        assert_eq!(of(&[("cache-control", "public")]), Some(TTL));
    }

    #[test]
    fn refusals_are_honoured_in_any_case_and_position() {
        for value in [
            "no-store",
            "public, No-Store",
            "private",
            "private=\"x\"",
            "no-cache",
        ] {
            let mut map = HeaderMap::new();
            map.insert(
                "cache-control",
                HeaderValue::from_str(value).expect("value"),
            );
            assert_eq!(lifetime(StatusCode::OK, &map, TTL), None, "{value}");
        }
        assert_eq!(
            of(&[("cache-control", "public"), ("cache-control", "no-store")]),
            None
        );
    }

    #[test]
    fn max_age_caps_the_lifetime_less_the_age_and_s_maxage_wins() {
        assert_eq!(
            of(&[("cache-control", "max-age=5")]),
            Some(Duration::from_secs(5))
        );
        assert_eq!(of(&[("cache-control", "max-age=600")]), Some(TTL));
        assert_eq!(
            of(&[("cache-control", "max-age=10"), ("age", "4")]),
            Some(Duration::from_secs(6))
        );
        assert_eq!(of(&[("cache-control", "max-age=0")]), None);
        assert_eq!(of(&[("cache-control", "max-age=soon")]), None);
        assert_eq!(
            of(&[("cache-control", "max-age=1, s-maxage=30")]),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn cookies_failures_partial_answers_and_vary_star_are_not_kept() {
        assert_eq!(of(&[("set-cookie", "session=1")]), None);
        assert_eq!(of(&[("vary", "*")]), None);
        for status in [
            StatusCode::PARTIAL_CONTENT,
            StatusCode::NOT_FOUND,
            StatusCode::BAD_GATEWAY,
        ] {
            assert_eq!(lifetime(status, &HeaderMap::new(), TTL), None, "{status}");
        }
    }

    #[test]
    fn vary_names_are_deduplicated_and_sorted() {
        let names =
            vary(&headers(&[("vary", "X-Lang, accept"), ("vary", "x-lang")])).expect("cacheable");
        let names: Vec<_> = names.iter().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept", "x-lang"]);
    }
}
