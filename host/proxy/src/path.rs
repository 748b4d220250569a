//! Request path checks before routing: a path that could mean two things to the gateway
//! and an upstream (encoded slashes, dot segments, NUL, backslashes) is refused rather
//! than guessed at.

/// Returns the path if it is unambiguous, or the reason it is refused.
pub fn check(path: &str) -> Result<&str, &'static str> {
    if !path.starts_with('/') {
        return Err("path must start with /");
    }
    let lower = path.to_ascii_lowercase();
    for (needle, why) in [
        ("%2f", "encoded slash in path"),
        ("%5c", "encoded backslash in path"),
        ("%00", "encoded NUL in path"),
        ("%2e", "encoded dot in path"),
        ("\\", "backslash in path"),
        ("//", "empty path segment"),
    ] {
        if lower.contains(needle) {
            return Err(why);
        }
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("dot segment in path");
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn plain_paths_pass() {
        assert_eq!(check("/api/v1/users/7"), Ok("/api/v1/users/7"));
        assert_eq!(check("/"), Ok("/"));
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for path in [
            "/a/%2F/b",
            "/a/%2e%2e/b",
            "/a/../b",
            "/a/./b",
            "/a//b",
            "/a\\b",
            "/a%00",
        ] {
            assert!(check(path).is_err(), "{path} should be refused");
        }
    }
}
