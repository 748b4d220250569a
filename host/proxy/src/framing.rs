//! Screens the raw HTTP/1 request stream for heads that frame their body twice
//! (`Transfer-Encoding` beside `Content-Length`, the request-smuggling tell). hyper reads
//! such a request by its chunked framing and drops the `Content-Length` before the
//! gateway sees it, so the screen follows each request's framing on the bytes hyper reads
//! and marks the request, which `admit` then refuses with 400 (RFC 9112 6.3 lets a server
//! reject it; hyper closes the connection after the answer).
//!
//! The screen only watches: it never changes a byte. It stops at the first head it cannot
//! follow (HTTP/2, a malformed head or chunk, an upgrade or `CONNECT`, a head hyper will
//! refuse itself) and leaves the rest of the connection to hyper's own framing checks.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use http::Request;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Marks a request whose head framed its body twice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DoublyFramed;

/// Most header lines the screen reads in one head; a head with more ends screening (hyper
/// still frames it by its own rules, and `admit` refuses that many headers).
const MAX_HEADERS: usize = 256;

/// No head has framed its body twice.
const NONE: u64 = u64::MAX;

/// What the screen found, shared between a connection's reads and its requests.
pub(crate) struct Findings {
    /// The position on the connection of the head that framed its body twice.
    doubly_framed: AtomicU64,
    /// Requests handed on so far.
    requests: AtomicU64,
}

impl Findings {
    /// Nothing found yet.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            doubly_framed: AtomicU64::new(NONE),
            requests: AtomicU64::new(0),
        })
    }

    /// Counts the next request of the connection (hyper hands HTTP/1 requests on in the
    /// order their heads arrived) and marks it if its head framed its body twice.
    pub(crate) fn mark<B>(&self, request: &mut Request<B>) {
        let position = self.requests.fetch_add(1, Ordering::Relaxed);
        if position == self.doubly_framed.load(Ordering::Relaxed) {
            request.extensions_mut().insert(DoublyFramed);
        }
    }
}

/// A connection's stream with the screen on its reads; writes pass straight through.
pub(crate) struct Screened<I> {
    inner: I,
    screen: Screen,
}

impl<I> Screened<I> {
    /// Screens `inner`, whose heads are at most `head_limit` bytes (hyper refuses longer
    /// ones), reporting to `findings`.
    pub(crate) fn new(inner: I, head_limit: usize, findings: Arc<Findings>) -> Self {
        Self {
            inner,
            screen: Screen {
                state: State::Head,
                partial: Vec::new(),
                head_limit,
                heads: 0,
                findings,
            },
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Screened<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && !matches!(this.screen.state, State::Off)
        {
            this.screen.feed(&buf.filled()[before..]);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Screened<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Where the screen is in the request stream.
#[derive(Debug, PartialEq)]
enum State {
    /// At or inside a request head (the bytes read of it so far are in `partial`).
    Head,
    /// Inside a body of this many more bytes.
    Body(u64),
    /// Reading a chunk-size line: the size so far, and whether an extension began.
    ChunkSize { size: u64, extension: bool },
    /// Inside a chunk's data, this many more bytes.
    ChunkData(u64),
    /// After a chunk's data, up to its line end.
    ChunkEnd,
    /// In the trailer section: whether the current line is empty so far.
    Trailers { empty_line: bool },
    /// Screening stopped for the rest of the connection.
    Off,
}

/// How a head frames the body that follows it, as hyper will read it.
enum Framing {
    /// No body: the next head follows.
    Empty,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked`.
    Chunked,
    /// `Transfer-Encoding` and `Content-Length` both.
    Double,
    /// Anything the screen does not follow further.
    Unfollowed,
}

/// Follows request framing over the bytes read.
struct Screen {
    state: State,
    partial: Vec<u8>,
    head_limit: usize,
    heads: u64,
    findings: Arc<Findings>,
}

impl Screen {
    /// Follows the framing over the next bytes read.
    fn feed(&mut self, bytes: &[u8]) {
        if self.partial.is_empty() {
            self.scan(bytes);
        } else {
            let mut head = std::mem::take(&mut self.partial);
            head.extend_from_slice(bytes);
            self.scan(&head);
        }
    }

    fn scan(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            bytes = match self.state {
                State::Head => self.head(bytes),
                State::Body(left) => {
                    let (taken, rest) = take(bytes, left);
                    self.state = match left - taken {
                        0 => State::Head,
                        left => State::Body(left),
                    };
                    rest
                }
                State::ChunkData(left) => {
                    let (taken, rest) = take(bytes, left);
                    self.state = match left - taken {
                        0 => State::ChunkEnd,
                        left => State::ChunkData(left),
                    };
                    rest
                }
                _ => {
                    self.chunk_byte(bytes[0]);
                    &bytes[1..]
                }
            };
            if self.state == State::Off {
                return;
            }
        }
    }

    /// Reads a head at the start of `bytes`; returns what follows it.
    fn head<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut []);
        match request.parse_with_uninit_headers(bytes, &mut headers) {
            Ok(httparse::Status::Complete(length)) => {
                let position = self.heads;
                self.heads += 1;
                self.state = match framing(&request) {
                    Framing::Empty => State::Head,
                    Framing::Length(length) => State::Body(length),
                    Framing::Chunked => State::ChunkSize {
                        size: 0,
                        extension: false,
                    },
                    Framing::Double => {
                        self.findings
                            .doubly_framed
                            .store(position, Ordering::Relaxed);
                        State::Off
                    }
                    Framing::Unfollowed => State::Off,
                };
                &bytes[length..]
            }
            Ok(httparse::Status::Partial) if bytes.len() <= self.head_limit => {
                self.partial = bytes.to_vec();
                &[]
            }
            Ok(httparse::Status::Partial) | Err(_) => {
                self.state = State::Off;
                &[]
            }
        }
    }

    /// Follows one byte of a chunk-size line, a chunk's line end or the trailers.
    fn chunk_byte(&mut self, byte: u8) {
        self.state = match (&self.state, byte) {
            (State::ChunkSize { size: 0, .. }, b'\n') => State::Trailers { empty_line: true },
            (State::ChunkSize { size, .. }, b'\n') => State::ChunkData(*size),
            (
                State::ChunkSize {
                    extension: true,
                    size,
                },
                _,
            ) => State::ChunkSize {
                size: *size,
                extension: true,
            },
            (State::ChunkSize { size, .. }, b';' | b'\r' | b' ' | b'\t') => State::ChunkSize {
                size: *size,
                extension: true,
            },
            (State::ChunkSize { size, .. }, digit) => {
                let value = (digit as char).to_digit(16);
                match value.and_then(|v| size.checked_mul(16)?.checked_add(u64::from(v))) {
                    Some(size) => State::ChunkSize {
                        size,
                        extension: false,
                    },
                    None => State::Off,
                }
            }
            (State::ChunkEnd, b'\n') => State::ChunkSize {
                size: 0,
                extension: false,
            },
            (State::ChunkEnd, _) => State::ChunkEnd,
            (State::Trailers { empty_line: true }, b'\n') => State::Head,
            (State::Trailers { .. }, b'\n') => State::Trailers { empty_line: true },
            (State::Trailers { empty_line }, b'\r') => State::Trailers {
                empty_line: *empty_line,
            },
            (State::Trailers { .. }, _) => State::Trailers { empty_line: false },
            _ => State::Off,
        };
    }
}

/// Splits off up to `left` bytes: how many were taken, and the rest.
fn take(bytes: &[u8], left: u64) -> (u64, &[u8]) {
    let taken = usize::try_from(left).map_or(bytes.len(), |left| left.min(bytes.len()));
    (taken as u64, &bytes[taken..])
}

/// How hyper will frame the body after `request`'s head (RFC 9112 6.3).
fn framing(request: &httparse::Request<'_, '_>) -> Framing {
    if request.method == Some("CONNECT") {
        return Framing::Unfollowed;
    }
    let named = |name| values(request.headers, name);
    if named("upgrade").next().is_some() {
        return Framing::Unfollowed;
    }
    let encodings = named("transfer-encoding").last();
    let has_length = named("content-length").next().is_some();
    match encodings {
        Some(_) if has_length => Framing::Double,
        Some(_) if request.version != Some(1) => Framing::Unfollowed,
        Some(encodings) if ends_chunked(encodings) => Framing::Chunked,
        Some(_) => Framing::Unfollowed,
        None if has_length => {
            content_length(named("content-length")).map_or(Framing::Unfollowed, Framing::Length)
        }
        None => Framing::Empty,
    }
}

/// The values of the headers called `name`.
fn values<'a>(
    headers: &'a [httparse::Header<'a>],
    name: &'static str,
) -> impl Iterator<Item = &'a [u8]> {
    headers
        .iter()
        .filter(move |header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value)
}

/// Whether the last transfer coding is `chunked`.
fn ends_chunked(encodings: &[u8]) -> bool {
    encodings
        .rsplit(|&byte| byte == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// The one length that every `Content-Length` value (and list item) agrees on.
fn content_length<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<u64> {
    let mut agreed = None;
    for item in values.flat_map(|value| value.split(|&byte| byte == b',')) {
        let item = std::str::from_utf8(item.trim_ascii()).ok()?;
        if item.is_empty() || !item.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let length = item.parse::<u64>().ok()?;
        if agreed.is_some_and(|agreed| agreed != length) {
            return None;
        }
        agreed = Some(length);
    }
    agreed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The position of the doubly framed head in `stream`, fed in pieces of `piece`
    /// bytes, and whether screening is still on at the end.
    fn screen(stream: &[u8], piece: usize) -> (Option<u64>, bool) {
        let findings = Findings::new();
        let mut screen = Screened::new((), 4096, findings.clone()).screen;
        for bytes in stream.chunks(piece) {
            if screen.state != State::Off {
                screen.feed(bytes);
            }
        }
        let found = findings.doubly_framed.load(Ordering::Relaxed);
        ((found != NONE).then_some(found), screen.state != State::Off)
    }

    /// In every split of the stream into pieces, the same finding.
    fn screen_all_ways(stream: &[u8]) -> (Option<u64>, bool) {
        let whole = screen(stream, stream.len());
        for piece in 1..stream.len() {
            assert_eq!(screen(stream, piece), whole, "in pieces of {piece}");
        }
        whole
    }

    #[test]
    fn finds_the_doubly_framed_head_behind_bodies_of_every_framing() {
        let stream = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 66\r\n\r\n\
            GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            5;name=value\r\nhello\r\n18\r\nGET /y HTTP/1.1\r\nContent\r\n0\r\nx-trailer: 1\r\n\r\n\
            GET /c HTTP/1.1\r\nHost: a\r\n\r\n\
            POST /d HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            screen_all_ways(stream),
            (Some(3), false),
            "heads inside bodies are not heads"
        );
    }

    #[test]
    fn plain_requests_are_followed_and_left_alone() {
        let stream = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
            POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nhi\
            POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
            GET / HTTP/1.1\r\nHost: a\r\n";
        assert_eq!(screen_all_ways(stream), (None, true));
    }

    #[test]
    fn stops_where_it_cannot_follow() {
        for stream in [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert_eq!(screen(stream, stream.len()), (None, false), "{stream:?}");
        }
        let long_head = [b"GET / HTTP/1.1\r\nx: ".as_slice(), &[b'a'; 5000]].concat();
        assert_eq!(screen(&long_head, 100), (None, false));
    }
}
