//! Load balancing over a service's instances: real upstreams on 127.0.0.1, each request
//! counted by the instance that answered (the echo reports the `host` it was sent to).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use archway_tests::servers::slow_upstream;
use archway_tests::{gateway, get, upstream};

/// A service `pool` of `instances` (`(port, weight, status)`) behind route `/pool/*`
/// balanced by `strategy`.
fn config(strategy: &str, instances: &[(SocketAddr, u32, &str)]) -> String {
    let mut text = format!(
        "[log]\naccess_log = false\n\
         [[routes]]\nid = \"pool\"\nservice_name = \"pool\"\npath_pattern = \"/pool/*\"\n\
         target_url = \"/*\"\nrequires_auth = false\nrate_limit_rpm = 0\n\
         load_balance_strategy = \"{strategy}\"\n\
         [[services]]\nname = \"pool\"\n"
    );
    for (n, (addr, weight, status)) in instances.iter().enumerate() {
        text += &format!(
            "[[services.instances]]\ninstance_id = \"i{n}\"\nhost = \"{}\"\nport = {}\n\
             weight = {weight}\nstatus = \"{status}\"\n",
            addr.ip(),
            addr.port()
        );
    }
    text
}

/// How many of `n` sequential requests each upstream answered, by its address.
async fn spread(gateway: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let reply = get(gateway, "/pool/x", &[]).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let host = reply.json()["headers"]["host"]
            .as_str()
            .expect("the echo names its host")
            .to_owned();
        *counts.entry(host).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn round_robin_takes_turns_and_a_draining_instance_gets_nothing() {
    let (a, b, c) = (upstream().await, upstream().await, upstream().await);
    let text = config(
        "round_robin",
        &[
            (a, 100, "healthy"),
            (b, 100, "draining"),
            (c, 100, "healthy"),
        ],
    );
    let gateway = gateway(&text, a).await;
    let counts = spread(gateway.addr(), 40).await;
    assert_eq!(counts.get(&a.to_string()), Some(&20), "{counts:?}");
    assert_eq!(counts.get(&b.to_string()), None, "draining: {counts:?}");
    assert_eq!(counts.get(&c.to_string()), Some(&20), "{counts:?}");
    gateway.stop().await;
}

#[tokio::test]
async fn weighted_shares_follow_the_weights() {
    let (light, heavy) = (upstream().await, upstream().await);
    let text = config(
        "weighted",
        &[(light, 100, "healthy"), (heavy, 300, "healthy")],
    );
    let gateway = gateway(&text, light).await;
    let counts = spread(gateway.addr(), 200).await;
    let heavy_share = counts[&heavy.to_string()] as f64 / 200.0;
    assert!((0.70..=0.80).contains(&heavy_share), "{counts:?}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_sends_new_requests_to_the_idle_instance() {
    let slow = slow_upstream(Duration::from_millis(400)).await;
    let fast = upstream().await;
    let text = config(
        "least_connections",
        &[(slow, 100, "healthy"), (fast, 100, "healthy")],
    );
    let gateway = gateway(&text, fast).await;
    let addr = gateway.addr();
    // Four clients, each sending requests one after another for a while: the slow
    // instance holds a request most of the time, so the idle one should get the rest.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                let mut slow_answers = 0;
                for _ in 0..15 {
                    let reply = get(addr, "/pool/x", &[]).await;
                    assert_eq!(reply.status, 200);
                    if reply.json()["slow"] == true {
                        slow_answers += 1;
                    }
                }
                slow_answers
            })
        })
        .collect();
    let mut slow_answers = 0;
    for client in clients {
        slow_answers += client.await.expect("client");
    }
    // Round robin would send half (30 of 60) to the slow instance.
    assert!(
        slow_answers <= 10,
        "{slow_answers} of 60 went to the busy instance"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_service_whose_every_instance_drains_answers_503() {
    let a = upstream().await;
    let gateway = gateway(&config("round_robin", &[(a, 100, "draining")]), a).await;
    let reply = get(gateway.addr(), "/pool/x", &[]).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["code"], "F50300");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_bulkhead_refuses_at_once_while_other_services_stay_fast() {
    let slow = slow_upstream(Duration::from_millis(1000)).await;
    let fast = upstream().await;
    let text = format!(
        "[log]\naccess_log = false\n\
         [[services]]\nname = \"slow\"\nurl = \"http://{slow}\"\n\
         max_concurrent_requests = 1\nmax_waiting_requests = 1\n\
         [[services]]\nname = \"fast\"\nurl = \"http://{fast}\"\n\
         [[routes]]\nid = \"slow\"\nservice_name = \"slow\"\npath_pattern = \"/slow/*\"\n\
         requires_auth = false\nrate_limit_rpm = 0\n\
         [[routes]]\nid = \"fast\"\nservice_name = \"fast\"\npath_pattern = \"/fast/*\"\n\
         requires_auth = false\nrate_limit_rpm = 0\n"
    );
    let gateway = gateway(&text, fast).await;
    let addr = gateway.addr();
    // One request in flight and one waiting fill the bulkhead.
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(async move { get(addr, "/slow/x", &[]).await.status }))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = get(addr, "/slow/x", &[]).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["code"], "F50300");
    assert!(
        held.iter().all(|request| !request.is_finished()),
        "refused while the bulkhead's requests were still in flight, without waiting for a slot"
    );
    assert_eq!(
        get(addr, "/fast/x", &[]).await.status,
        200,
        "other services serve"
    );
    for request in held {
        assert_eq!(
            request.await.expect("request"),
            200,
            "the admitted and the waiting one"
        );
    }
    gateway.stop().await;
}
