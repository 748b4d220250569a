//! A response body compressed as it streams: each chunk goes into the encoder and what it
//! has produced goes out; when the upstream pauses (its next chunk is not ready), the
//! encoder is flushed so a slow stream still reaches the client; at the end it is
//! finished, and trailers follow.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use hyper::body::{Body, Frame, SizeHint};

use super::negotiate::Encoding;
use crate::body::{BodyError, ProxyBody};

/// Brotli's quality for responses on the fly: its default (11) is for files compressed once.
const BROTLI_QUALITY: u32 = 5;
/// Brotli's window, as a power of two (its default).
const BROTLI_WINDOW_BITS: u32 = 22;
/// The buffer brotli compresses through.
const BROTLI_BUFFER: usize = 4096;
/// zstd's level: its default, a good speed for its ratio.
const ZSTD_LEVEL: i32 = 3;

/// A compressor writing into a buffer that the body drains.
pub(crate) enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    /// A compressor for `encoding`.
    pub(crate) fn new(encoding: Encoding) -> std::io::Result<Self> {
        Ok(match encoding {
            Encoding::Gzip => Self::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )),
            Encoding::Brotli => Self::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                BROTLI_QUALITY,
                BROTLI_WINDOW_BITS,
            ))),
            Encoding::Zstd => {
                Self::Zstd(zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?)
            }
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Self::Gzip(encoder) => encoder,
            Self::Brotli(encoder) => &mut **encoder,
            Self::Zstd(encoder) => encoder,
        }
    }

    /// What it has produced so far, taken out of its buffer.
    fn take(&mut self) -> Bytes {
        let produced = match self {
            Self::Gzip(encoder) => encoder.get_mut(),
            Self::Brotli(encoder) => encoder.get_mut(),
            Self::Zstd(encoder) => encoder.get_mut(),
        };
        Bytes::from(std::mem::take(produced))
    }

    /// Ends the stream: the last of its output.
    fn finish(self) -> std::io::Result<Bytes> {
        let rest = match self {
            Self::Gzip(encoder) => encoder.finish()?,
            Self::Brotli(encoder) => encoder.into_inner(),
            Self::Zstd(encoder) => encoder.finish()?,
        };
        Ok(Bytes::from(rest))
    }
}

/// A body compressed on its way to the client.
pub struct Compressed {
    inner: ProxyBody,
    /// `None` once finished.
    encoder: Option<Encoder>,
    /// Whether input went in since the last flush.
    unflushed: bool,
    trailers: Option<HeaderMap>,
    ended: bool,
}

impl std::fmt::Debug for Compressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressed")
            .field("ended", &self.ended)
            .finish()
    }
}

impl Compressed {
    /// `inner`, compressed by `encoder`.
    pub(crate) fn wrap(inner: ProxyBody, encoder: Encoder) -> ProxyBody {
        ProxyBody::Compressed(Box::new(Self {
            inner,
            encoder: Some(encoder),
            unflushed: false,
            trailers: None,
            ended: false,
        }))
    }

    /// The next frame once the encoder is finished: the trailers, if any, then the end.
    fn after_finish(&mut self) -> Option<Result<Frame<Bytes>, BodyError>> {
        self.ended = true;
        self.trailers
            .take()
            .map(|trailers| Ok(Frame::trailers(trailers)))
    }
}

impl Body for Compressed {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            let Some(encoder) = this.encoder.as_mut() else {
                return Poll::Ready(this.after_finish());
            };
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        encoder.writer().write_all(&data)?;
                        this.unflushed = true;
                        let produced = encoder.take();
                        if !produced.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(produced))));
                        }
                    }
                    Err(frame) => this.trailers = frame.into_trailers().ok(),
                },
                Poll::Ready(Some(Err(error))) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None) => {
                    let encoder = this.encoder.take().expect("checked above");
                    let last = encoder.finish()?;
                    return Poll::Ready(Some(Ok(Frame::data(last))));
                }
                Poll::Pending => {
                    if this.unflushed {
                        this.unflushed = false;
                        encoder.writer().flush()?;
                        let produced = encoder.take();
                        if !produced.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(produced))));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use http_body_util::BodyExt;

    use super::*;
    use crate::body::full;

    fn decode(encoding: Encoding, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match encoding {
            Encoding::Gzip => {
                flate2::read::GzDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .expect("gzip");
            }
            Encoding::Brotli => {
                brotli::Decompressor::new(bytes, 4096)
                    .read_to_end(&mut out)
                    .expect("brotli");
            }
            Encoding::Zstd => out = zstd::stream::decode_all(bytes).expect("zstd"),
        }
        out
    }

    #[tokio::test]
    async fn each_encoding_round_trips() {
        let text = "the gateway compresses what it relays. ".repeat(200);
        for encoding in [Encoding::Gzip, Encoding::Brotli, Encoding::Zstd] {
            let encoder = Encoder::new(encoding).expect("encoder");
            let body = Compressed::wrap(full(Bytes::from(text.clone())), encoder);
            let compressed = body.collect().await.expect("body").to_bytes();
            assert!(
                compressed.len() < text.len() / 4,
                "{encoding:?}: {}",
                compressed.len()
            );
            assert_eq!(
                decode(encoding, &compressed),
                text.as_bytes(),
                "{encoding:?}"
            );
        }
    }
}
