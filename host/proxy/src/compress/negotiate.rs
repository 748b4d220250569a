//! Choosing a content coding from `Accept-Encoding` (RFC 9110, section 12.5.3): each
//! coding the gateway produces gets the client's q-value for it (or for `*`); the highest
//! above zero wins, ties going to the better compressor (zstd, then brotli, then gzip).
//! An explicit `identity` preferred over all of them keeps the response as it is.

use http::HeaderValue;

/// A content coding the gateway produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `zstd`.
    Zstd,
    /// `br`.
    Brotli,
    /// `gzip`.
    Gzip,
}

impl Encoding {
    /// In order of preference when the client likes several equally.
    const PREFERRED: [Encoding; 3] = [Self::Zstd, Self::Brotli, Self::Gzip];

    /// The token in `Content-Encoding`.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }

    fn named(self, coding: &str) -> bool {
        coding.eq_ignore_ascii_case(self.token())
            || (self == Self::Gzip && coding.eq_ignore_ascii_case("x-gzip"))
    }
}

/// The coding to send for a request's `Accept-Encoding` values; `None` for identity.
pub(crate) fn choose<'a>(accept: impl Iterator<Item = &'a HeaderValue>) -> Option<Encoding> {
    let offers: Vec<(String, u16)> = accept
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(offer)
        .collect();
    let q_for = |named: &dyn Fn(&str) -> bool| {
        offers
            .iter()
            .find(|(coding, _)| named(coding))
            .or_else(|| offers.iter().find(|(coding, _)| coding == "*"))
            .map(|(_, q)| *q)
    };
    let mut best: Option<(Encoding, u16)> = None;
    for encoding in Encoding::PREFERRED {
        let q = q_for(&|coding| encoding.named(coding)).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, best_q)| q > best_q) {
            best = Some((encoding, q));
        }
    }
    let (encoding, q) = best?;
    let identity = offers
        .iter()
        .find(|(coding, _)| coding.eq_ignore_ascii_case("identity"));
    match identity {
        Some((_, identity_q)) if *identity_q > q => None,
        _ => Some(encoding),
    }
}

/// One `coding[;q=value]` item: the coding and its q-value in thousandths; `None` when
/// it is empty or its q-value is not one.
fn offer(item: &str) -> Option<(String, u16)> {
    let mut params = item.split(';');
    let coding = params.next()?.trim();
    if coding.is_empty() {
        return None;
    }
    let mut q = 1000;
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            q = qvalue(value.trim())?;
        }
    }
    Some((coding.to_ascii_lowercase(), q))
}

/// `0`, `0.5`, `1.000`: thousandths from 0 to 1000.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &str) -> Option<Encoding> {
        choose(std::iter::once(
            &HeaderValue::from_str(accept).expect("value"),
        ))
    }

    #[test]
    fn each_coding_alone_is_chosen() {
        assert_eq!(pick("gzip"), Some(Encoding::Gzip));
        assert_eq!(pick("x-gzip"), Some(Encoding::Gzip));
        assert_eq!(pick("br"), Some(Encoding::Brotli));
        assert_eq!(pick("ZSTD"), Some(Encoding::Zstd));
        assert_eq!(pick("deflate"), None);
        assert_eq!(pick(""), None);
    }

    #[test]
    fn q_values_rank_and_zero_refuses() {
        assert_eq!(pick("gzip, br, zstd"), Some(Encoding::Zstd));
        assert_eq!(pick("gzip;q=1, br;q=0.8"), Some(Encoding::Gzip));
        assert_eq!(
            pick("zstd;q=0, br;q=0.5, gzip;q=0.4"),
            Some(Encoding::Brotli)
        );
        assert_eq!(pick("gzip;q=0"), None);
        assert_eq!(pick("*"), Some(Encoding::Zstd));
        assert_eq!(pick("*;q=0.5, zstd;q=0, br;q=0"), Some(Encoding::Gzip));
        assert_eq!(pick("gzip;q=2"), None, "not a q-value");
        assert_eq!(pick("gzip ; Q=0.250"), Some(Encoding::Gzip));
    }

    #[test]
    fn an_explicitly_preferred_identity_wins() {
        assert_eq!(pick("gzip;q=0.5, identity"), None);
        assert_eq!(pick("gzip, identity;q=0.5"), Some(Encoding::Gzip));
        assert_eq!(pick("gzip;q=0.5"), Some(Encoding::Gzip));
    }

    #[test]
    fn several_header_lines_count_together() {
        let lines = [
            HeaderValue::from_static("gzip;q=0.2"),
            HeaderValue::from_static("br"),
        ];
        assert_eq!(choose(lines.iter()), Some(Encoding::Brotli));
    }
}
