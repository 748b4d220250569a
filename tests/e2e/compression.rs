//! Response compression end to end: each coding negotiated by `Accept-Encoding` and
//! decoded back to exactly the upstream's bytes, identity when the client asks for none
//! or refuses them, and small, already compressed or opted-out responses untouched.

use std::io::Read;
use std::net::SocketAddr;

use archway_tests::servers::{Shaped, shaped};
use archway_tests::{Reply, get};

/// Route `/z/*` compresses, `/plain/*` does not; `[compression]` holds the defaults.
fn compression_config(upstream: &Shaped) -> String {
    format!(
        "[log]\naccess_log = false\n\
         [compression]\nenabled = true\nmin_bytes = 1024\n\
         [[services]]\nname = \"shaped\"\nurl = \"http://{}\"\n\
         [[routes]]\nid = \"z\"\nservice_name = \"shaped\"\npath_pattern = \"/z/*\"\nrequires_auth = false\n\
         [[routes]]\nid = \"plain\"\nservice_name = \"shaped\"\npath_pattern = \"/plain/*\"\n\
         requires_auth = false\ncompression = false\n",
        upstream.addr()
    )
}

async fn gateway(upstream: &Shaped) -> archway::Running {
    let unused = "127.0.0.1:9".parse().expect("address");
    archway_tests::gateway(&compression_config(upstream), unused).await
}

async fn fetch(addr: SocketAddr, path: &str, accept: Option<&str>) -> Reply {
    let headers: Vec<_> = accept.map(|a| ("accept-encoding", a)).into_iter().collect();
    let reply = get(addr, path, &headers).await;
    assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    reply
}

fn decode(coding: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .expect("gzip decodes");
        }
        "br" => {
            brotli::Decompressor::new(bytes, 4096)
                .read_to_end(&mut out)
                .expect("brotli decodes");
        }
        "zstd" => out = zstd::stream::decode_all(bytes).expect("zstd decodes"),
        other => panic!("unexpected coding {other}"),
    }
    out
}

#[tokio::test]
async fn each_coding_is_negotiated_and_decodes_to_the_upstreams_body() {
    let upstream = shaped().await;
    let gateway = gateway(&upstream).await;
    let addr = gateway.addr();
    let identity = fetch(addr, "/z/text?size=20000", None).await;
    assert_eq!(identity.body.len(), 20000);

    for (accept, coding) in [
        ("gzip", "gzip"),
        ("br", "br"),
        ("zstd", "zstd"),
        ("gzip;q=0.5, br;q=0.9, zstd;q=0.1", "br"),
        ("gzip, br, zstd", "zstd"),
        ("*", "zstd"),
    ] {
        let reply = fetch(addr, "/z/text?size=20000", Some(accept)).await;
        assert_eq!(reply.header("content-encoding"), Some(coding), "{accept}");
        assert_eq!(reply.header("vary"), Some("accept-encoding"), "{accept}");
        assert_eq!(reply.header("content-length"), None, "{accept}: streamed");
        assert!(
            reply.body.len() < identity.body.len() / 4,
            "{accept}: {} bytes",
            reply.body.len()
        );
        assert_eq!(decode(coding, &reply.body), identity.body, "{accept}");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn without_an_accepted_coding_the_body_is_sent_as_it_is() {
    let upstream = shaped().await;
    let gateway = gateway(&upstream).await;
    let addr = gateway.addr();
    for accept in [
        None,
        Some("identity"),
        Some("gzip;q=0, br;q=0, zstd;q=0"),
        Some("deflate"),
    ] {
        let reply = fetch(addr, "/z/text?size=5000", accept).await;
        assert_eq!(reply.header("content-encoding"), None, "{accept:?}");
        assert_eq!(reply.header("content-length"), Some("5000"), "{accept:?}");
        assert_eq!(reply.header("vary"), Some("accept-encoding"), "{accept:?}");
        assert_eq!(reply.body.len(), 5000);
    }
    gateway.stop().await;
}

#[tokio::test]
async fn small_compressed_already_and_opted_out_responses_are_untouched() {
    let upstream = shaped().await;
    let gateway = gateway(&upstream).await;
    let addr = gateway.addr();
    for path in [
        "/z/small?size=500",
        "/z/picture?size=5000&h=content-type:image/png",
        "/z/archive?size=5000&h=content-type:application/zip",
        "/z/done?size=5000&h=content-encoding:gzip",
        "/plain/text?size=5000",
    ] {
        let reply = fetch(addr, path, Some("gzip, br, zstd")).await;
        let expected_coding = path.contains("content-encoding").then_some("gzip");
        assert_eq!(reply.header("content-encoding"), expected_coding, "{path}");
        let size: usize = path
            .split("size=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .and_then(|s| s.parse().ok())
            .expect("size");
        assert_eq!(
            reply.body.len(),
            size,
            "{path}: the upstream's bytes as they were"
        );
    }
    gateway.stop().await;
}
