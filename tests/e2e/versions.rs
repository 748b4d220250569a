//! API versions as a client picks them: `X-API-Version` first, then a `/v{N}/` path
//! prefix (not forwarded), else the route marked default or the highest version; an
//! unknown version is a 404 in the route's error format.

use std::net::SocketAddr;

use archway_tests::{gateway, get, upstream};

/// `/orders/*` in `v1` (forwarded under `/one/`), `v2` (`/two/`) and `v10` (`/ten/`),
/// with `extra` on the v1 route, in the trading error format; `/v1/legacy/*` is a
/// pattern that starts like a version.
fn config(extra_v1: &str) -> String {
    let route = |version: &str, target: &str, extra: &str| {
        format!(
            "[[routes]]\nid = \"orders-{version}\"\nservice_name = \"echo\"\npath_pattern = \"/orders/*\"\n\
             target_url = \"/{target}/*\"\nrequires_auth = false\nrate_limit_rpm = 0\n\
             error_format = \"trading\"\nversion = \"{version}\"\n{extra}\n"
        )
    };
    format!(
        "[log]\naccess_log = false\n[[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n{}{}{}\
         [[routes]]\nid = \"legacy\"\nservice_name = \"echo\"\npath_pattern = \"/v1/legacy/*\"\n\
         target_url = \"/legacy/*\"\nrequires_auth = false\nrate_limit_rpm = 0\n",
        route("v1", "one", extra_v1),
        route("v2", "two", ""),
        route("v10", "ten", ""),
    )
}

/// The path the upstream saw for `GET path` with `headers`, or the status when not 200.
async fn upstream_path(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<String, u16> {
    let reply = get(addr, path, headers).await;
    if reply.status != 200 {
        return Err(reply.status);
    }
    Ok(reply.json()["path"]
        .as_str()
        .expect("echoed path")
        .to_owned())
}

/// A request path, its headers, and the path the upstream sees or the status.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Result<&'static str, u16>,
);

#[tokio::test]
async fn a_request_picks_its_version_by_header_then_path_then_default() {
    let gateway = gateway(&config(""), upstream().await).await;
    let addr = gateway.addr();
    let cases: [Case; 7] = [
        ("/orders/7", &[("x-api-version", "v2")], Ok("/two/7")),
        ("/orders/7", &[("x-api-version", "2")], Ok("/two/7")),
        ("/orders/7", &[], Ok("/ten/7")),
        ("/v1/orders/7", &[], Ok("/one/7")),
        ("/v10/orders/7", &[], Ok("/ten/7")),
        // A pattern that starts like a version prefix still routes whole.
        ("/v1/legacy/x", &[], Ok("/legacy/x")),
        // The header wins, so the path is routed as it is: no `/v2/orders/*` route.
        ("/v2/orders/7", &[("x-api-version", "v1")], Err(404)),
    ];
    for (path, headers, expected) in cases {
        let got = upstream_path(addr, path, headers).await;
        assert_eq!(
            got.as_deref().map_err(|status| *status),
            expected,
            "{path} {headers:?}"
        );
    }
    gateway.stop().await;
}

#[tokio::test]
async fn the_route_marked_default_answers_requests_naming_no_version() {
    let gateway = gateway(&config("is_default_version = true"), upstream().await).await;
    let got = upstream_path(gateway.addr(), "/orders/7", &[]).await;
    assert_eq!(got.as_deref(), Ok("/one/7"));
    gateway.stop().await;
}

#[tokio::test]
async fn an_unknown_version_is_a_404_in_the_routes_error_format() {
    let gateway = gateway(&config(""), upstream().await).await;
    let reply = get(gateway.addr(), "/orders/7", &[("x-api-version", "v3")]).await;
    assert_eq!(reply.status, 404);
    let envelope = reply.json();
    assert_eq!(
        envelope["code"], "NOT_FOUND",
        "the trading envelope: {envelope}"
    );
    assert!(
        envelope.to_string().contains("version v3"),
        "says which version: {envelope}"
    );
    let unrouted = get(gateway.addr(), "/v3/orders/7", &[]).await;
    assert_eq!(
        unrouted.status, 404,
        "no route serves v3, so the path routes whole"
    );
    gateway.stop().await;
}
