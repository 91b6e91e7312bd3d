//! Proxies from the environment are ignored by the reqwest transport unless the host opts in.
//! A test binary of its own: it sets the process's environment.

#[path = "support/server.rs"]
mod server;

use std::time::Duration;

use bytes::Bytes;
use lms_webhooks::endpoint::UrlPolicy;
use lms_webhooks::transport::{ReqwestTransport, Transport};

#[tokio::test]
async fn proxies_from_the_environment_are_ignored_unless_opted_in() {
    let (port, seen) = server::start(server::ok);
    // The discard port: nothing listens there, so going through the "proxy" fails.
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
        std::env::set_var(name, "http://127.0.0.1:9");
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    let policy = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    let request = || {
        let mut r = http::Request::new(Bytes::from_static(b"{}"));
        *r.method_mut() = http::Method::POST;
        *r.uri_mut() = format!("http://127.0.0.1:{port}/direct").parse().unwrap();
        r
    };
    let direct = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(policy.clone())
        .unwrap();
    assert_eq!(direct.send(request()).await.status_code(), Some(200));
    assert_eq!(seen.recv().unwrap().0, "POST /direct HTTP/1.1");

    let proxied = direct.with_env_proxy(true).unwrap();
    let outcome = proxied.send(request()).await;
    assert_eq!(
        outcome.status_code(),
        None,
        "went to the dead proxy: {outcome:?}"
    );
    assert!(seen.recv_timeout(Duration::from_millis(300)).is_err());
}
