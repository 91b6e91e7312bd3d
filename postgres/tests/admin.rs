//! The admin page on a real PostgreSQL started by the test, driven through its axum router:
//! one tenant never sees or touches another's webhooks, everything from endpoints is escaped,
//! secrets appear once, forms need their CSRF token, the plan's limit replaces the form, and
//! an edit keeps the secret (a delivery after it still verifies).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::{Envelope, Event, EventType, Profile, Receiver, Secret, Timestamp};
use lms_webhooks_postgres::admin::{Access, Admin, Plan};
use lms_webhooks_postgres::{Outbox, Worker};
use support::pg::Pg;
use support::receiver::{recording, Requests};
use support::store::{fresh_outbox, loopback, loopback_transport, worker};
use tower::ServiceExt;

/// The admin router, and a cookie jar per tenant: each tenant is its own browser.
struct Browser {
    router: Router,
    cookies: Mutex<std::collections::HashMap<String, String>>,
}

/// The host's "authentication" in these tests: headers a real host's middleware would have
/// turned into a user.
fn app(outbox: &Outbox) -> Browser {
    Browser {
        router: router(outbox),
        cookies: Mutex::default(),
    }
}

fn router(outbox: &Outbox) -> Router {
    let transport = loopback_transport();
    let admin = Admin::new(outbox.clone(), transport, |req: &http::request::Parts| {
        let tenant = req.headers.get("x-tenant")?.to_str().ok()?.to_owned();
        let plan = match req.headers.get("x-plan").map(|p| p.as_bytes()) {
            Some(b"pro") => Plan::pro(),
            _ => Plan::free(),
        };
        Some(Access::new(tenant, plan))
    })
    .unwrap()
    .with_url_policy(loopback());
    admin.mount(Router::new(), "/settings/webhooks")
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    headers: axum::http::HeaderMap,
    body: String,
}

/// Sends `req` with its tenant's browser cookie, and keeps the cookie the answer sets.
async fn call(app: &Browser, mut req: Request<Body>) -> Page {
    let tenant = req
        .headers()
        .get("x-tenant")
        .map(|t| t.to_str().unwrap().to_owned())
        .unwrap_or_default();
    if let Some(cookie) = app.cookies.lock().unwrap().get(&tenant) {
        req.headers_mut()
            .insert(header::COOKIE, cookie.parse().unwrap());
    }
    let response = app.router.clone().oneshot(req).await.unwrap();
    if let Some(set) = response.headers().get(header::SET_COOKIE) {
        let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
        app.cookies.lock().unwrap().insert(tenant, pair);
    }
    let status = response.status();
    let headers = response.headers().clone();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Page {
        status,
        location,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(app: &Browser, tenant: &str, plan: &str, path: &str) -> Page {
    let path = if path == "/" { "" } else { path };
    let req = Request::get(format!("/settings/webhooks{path}"))
        .header("x-tenant", tenant)
        .header("x-plan", plan)
        .body(Body::empty())
        .unwrap();
    call(app, req).await
}

async fn post(app: &Browser, tenant: &str, plan: &str, path: &str, form: &[(&str, &str)]) -> Page {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let req = Request::post(format!("/settings/webhooks{path}"))
        .header("x-tenant", tenant)
        .header("x-plan", plan)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    call(app, req).await
}

/// The value of the first `<input … name="NAME" … value="…">` in a page.
fn input_value(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no input {name}"));
    let tag_end = page[at..].find('>').unwrap() + at;
    let tag_start = page[..at].rfind('<').unwrap();
    let tag = &page[tag_start..tag_end];
    let v = tag.find("value=\"").unwrap() + 7;
    tag[v..v + tag[v..].find('"').unwrap()].to_owned()
}

/// Adds a webhook through the form as `tenant`; returns its id and the secret the form showed.
async fn add(app: &Browser, tenant: &str, plan: &str, url: &str) -> (String, String) {
    let page = get(app, tenant, plan, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    let (csrf, secret) = (
        input_value(&page.body, "csrf"),
        input_value(&page.body, "secret"),
    );
    let added = post(
        app,
        tenant,
        plan,
        "/add",
        &[
            ("csrf", &csrf),
            ("url", url),
            ("events", "sales.transaction.completed"),
            ("events", "course.member.completed"),
            ("secret", &secret),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(
        added.location.as_deref(),
        Some("/settings/webhooks?notice=added")
    );
    let list = get(app, tenant, plan, "/").await;
    let at = list.body.find(url).expect("the new row");
    let row = &list.body[list.body[..at].rfind("data-id=\"").unwrap() + 9..];
    (row[..row.find('"').unwrap()].to_owned(), secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_never_sees_or_touches_another_tenants_webhooks() {
    let pg = Pg::start();
    let (_pool, outbox) = fresh_outbox(&pg, 10).await;
    let app = app(&outbox);
    let (a_id, _) = add(&app, "school_a", "pro", "http://127.0.0.1:9/a-only").await;

    let b_list = get(&app, "school_b", "pro", "/").await;
    assert_eq!(b_list.status, StatusCode::OK);
    assert!(!b_list.body.contains("a-only") && !b_list.body.contains(&a_id));
    let b_csrf = input_value(&b_list.body, "csrf");
    for path in ["/edit", "/delete", "/log"] {
        let page = get(&app, "school_b", "pro", &format!("/{a_id}{path}")).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }
    for path in ["/delete", "/pause", "/test", "/rotate", "/edit"] {
        let page = post(
            &app,
            "school_b",
            "pro",
            &format!("/{a_id}{path}"),
            &[
                ("csrf", &b_csrf),
                ("url", "http://127.0.0.1:9/b"),
                ("all", "1"),
            ],
        )
        .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
    }
    // Tenant A's token is no good for tenant B, and no token is no good at all.
    let a_csrf = input_value(&get(&app, "school_a", "pro", "/").await.body, "csrf");
    assert_ne!(a_csrf, b_csrf);
    let forged = post(
        &app,
        "school_b",
        "pro",
        &format!("/{a_id}/delete"),
        &[("csrf", &a_csrf)],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let tokenless = post(&app, "school_a", "pro", &format!("/{a_id}/delete"), &[]).await;
    assert_eq!(tokenless.status, StatusCode::FORBIDDEN);
    // A cross-origin form post is refused even with the right token.
    let req = Request::post(format!("/settings/webhooks/{a_id}/delete"))
        .header("x-tenant", "school_a")
        .header(header::HOST, "lms.example")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={a_csrf}")))
        .unwrap();
    assert_eq!(call(&app, req).await.status, StatusCode::FORBIDDEN);
    assert_eq!(outbox.endpoints("school_a").await.unwrap().len(), 1);
    // No tenant from the host: no page.
    let req = Request::get("/settings/webhooks")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, req).await.status, StatusCode::FORBIDDEN);

    // Tenant A deletes its own, through the confirmation page's form.
    let confirm = get(&app, "school_a", "pro", &format!("/{a_id}/delete")).await;
    assert!(confirm.body.contains("Delete webhook"));
    let deleted = post(
        &app,
        "school_a",
        "pro",
        &format!("/{a_id}/delete"),
        &[("csrf", &input_value(&confirm.body, "csrf"))],
    )
    .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(outbox.endpoints("school_a").await.unwrap().is_empty());
}

/// The requests a receiver got: headers and body.
/// A loopback receiver answering `status` with `body`, keeping every request.
fn receiver(status: u16, body: &'static str) -> (String, Requests) {
    recording(move || (status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_response_is_shown_as_text_and_secrets_appear_once() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let app = app(&outbox);
    let (url, seen) = receiver(500, "<script>alert(1)</script>");
    let (id, secret) = add(&app, "school", "pro", &url).await;

    // Test: the ping reaches the receiver, fails (500), and the log shows the excerpt as text.
    let list = get(&app, "school", "pro", "/").await;
    let csrf = input_value(&list.body, "csrf");
    let tested = post(
        &app,
        "school",
        "pro",
        &format!("/{id}/test"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(
        tested.location.as_deref(),
        Some("/settings/webhooks?notice=test-failed-500")
    );
    let shown = get(&app, "school", "pro", "?notice=test-failed-500").await;
    assert!(shown
        .body
        .contains("Test failed: the endpoint answered 500."));
    assert_eq!(seen.lock().unwrap().len(), 1);
    let log = get(&app, "school", "pro", &format!("/{id}/log")).await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(
        log.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        log.body
    );
    assert!(!log.body.contains("<script>alert"));
    assert!(log.body.contains("webhook.test") || log.body.contains("500"));

    // Recover failed since an hour ago (the form's `datetime-local` text, UTC) sends the ping
    // again; Resend of one event too.
    let since = Timestamp::now()
        .checked_sub(Duration::from_secs(3600))
        .unwrap()
        .to_rfc3339()[..16]
        .to_owned();
    let recovered = post(
        &app,
        "school",
        "pro",
        &format!("/{id}/recover"),
        &[("csrf", &csrf), ("since", &since)],
    )
    .await;
    assert_eq!(
        recovered.location,
        Some(format!("/settings/webhooks/{id}/log?notice=recovered-1"))
    );
    let event = input_value(&log.body, "event");
    let resent = post(
        &app,
        "school",
        "pro",
        &format!("/{id}/resend"),
        &[("csrf", &csrf), ("event", &event)],
    )
    .await;
    assert_eq!(
        resent.location,
        Some(format!("/settings/webhooks/{id}/log?notice=resent"))
    );
    let log = get(&app, "school", "pro", &format!("/{id}/log?notice=resent")).await;
    assert!(log.body.contains("Delivery sent again."));
    let bad_since = post(
        &app,
        "school",
        "pro",
        &format!("/{id}/recover"),
        &[("csrf", &csrf), ("since", "yesterday")],
    )
    .await;
    assert_eq!(bad_since.status, StatusCode::BAD_REQUEST);

    // The secret was on the add form; no page shows it again.
    for path in [
        "/",
        &format!("/{id}/edit"),
        &format!("/{id}/log"),
        &format!("/{id}/delete"),
    ] {
        let page = get(&app, "school", "pro", path).await;
        assert!(!page.body.contains(&secret), "{path} shows the secret");
    }

    // Edit: a new URL and one event less; the secret is kept, and a delivery after the edit
    // verifies with it.
    let (new_url, arrived) = receiver(200, "ok");
    let edit = get(&app, "school", "pro", &format!("/{id}/edit")).await;
    let saved = post(
        &app,
        "school",
        "pro",
        &format!("/{id}/edit"),
        &[
            ("csrf", &input_value(&edit.body, "csrf")),
            ("url", &new_url),
            ("events", "sales.transaction.completed"),
            ("max_in_flight", "2"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(outbox.max_in_flight("school", &id).await.unwrap(), 2);
    let edit = get(&app, "school", "pro", &format!("/{id}/edit")).await;
    assert_eq!(input_value(&edit.body, "max_in_flight"), "2");
    let refused = post(
        &app,
        "school",
        "pro",
        &format!("/{id}/edit"),
        &[
            ("csrf", &input_value(&edit.body, "csrf")),
            ("url", &new_url),
            ("events", "sales.transaction.completed"),
            ("max_in_flight", "0"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(refused.body.contains("from 1 to 10000"), "{}", refused.body);
    assert_eq!(outbox.max_in_flight("school", &id).await.unwrap(), 2);
    let endpoint = outbox.endpoint("school", &id).await.unwrap();
    assert_eq!(endpoint.url().as_str(), new_url);
    assert!(!endpoint.subscribes_to("course.member.completed"));
    let mut tx = pool.begin().await.unwrap();
    let sale = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    outbox.publish(&mut tx, "school", &sale).await.unwrap();
    tx.commit().await.unwrap();
    worker(&outbox).run_until_idle().await.unwrap();
    // The sale, and the ping recovered and resent above (a delivery follows its endpoint to
    // its new URL): every request verifies with the secret shown at creation.
    let arrived = arrived.lock().unwrap().clone();
    assert_eq!(arrived.len(), 2);
    let receiver = Receiver::new(Profile::standard()).with_secret(Secret::parse(&secret).unwrap());
    let ids: Vec<String> = arrived
        .iter()
        .map(|(headers, body)| {
            receiver
                .receive(Timestamp::now(), headers, body)
                .unwrap()
                .id
        })
        .collect();
    assert!(ids.iter().any(|id| id == sale.id().as_str()), "{ids:?}");

    // An invalid URL is refused with the reason next to the field, nothing saved.
    let edit = get(&app, "school", "pro", &format!("/{id}/edit")).await;
    let refused = post(
        &app,
        "school",
        "pro",
        &format!("/{id}/edit"),
        &[
            ("csrf", &input_value(&edit.body, "csrf")),
            ("url", "ftp://files.example/x"),
            ("all", "1"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(refused.body.contains("role=\"alert\""), "{}", refused.body);
    assert_eq!(
        outbox.endpoint("school", &id).await.unwrap().url().as_str(),
        new_url
    );

    // Rotation shows the new secret once, on its own answer.
    let rotated = post(
        &app,
        "school",
        "pro",
        &format!("/{id}/rotate"),
        &[
            ("csrf", &input_value(&edit.body, "csrf")),
            ("grace_hours", "1"),
        ],
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new_secret = input_value(&rotated.body, "secret_shown");
    assert_ne!(new_secret, secret);
    for path in ["/", &format!("/{id}/edit")] {
        let page = get(&app, "school", "pro", path).await;
        assert!(!page.body.contains(&new_secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_free_plan_replaces_the_form_with_a_notice_at_three_webhooks() {
    let pg = Pg::start();
    let (_pool, outbox) = fresh_outbox(&pg, 10).await;
    let app = app(&outbox);
    for n in 0..3 {
        let page = get(&app, "school", "free", "/").await;
        assert!(page
            .body
            .contains(&format!("{n} of 3 webhook slots in use")));
        assert!(page.body.contains("Add New Webhook"));
        add(
            &app,
            "school",
            "free",
            &format!("http://127.0.0.1:9/hook{n}"),
        )
        .await;
    }
    let full = get(&app, "school", "free", "/").await;
    assert!(full.body.contains("3 of 3 webhook slots in use"));
    assert!(full.body.contains("id=\"limit\""));
    assert!(!full.body.contains("Add New Webhook"));
    // A form posted anyway (an old tab) is refused by the store's limit.
    let csrf = input_value(&full.body, "csrf");
    let over = post(
        &app,
        "school",
        "free",
        "/add",
        &[
            ("csrf", &csrf),
            ("url", "http://127.0.0.1:9/hook3"),
            ("all", "1"),
            ("secret", "0123456789abcdefABCDEF0123456789"),
        ],
    )
    .await;
    assert_eq!(
        over.location.as_deref(),
        Some("/settings/webhooks?notice=limit")
    );
    assert_eq!(outbox.endpoints("school").await.unwrap().len(), 3);
    // The Delivery Log is a Pro feature.
    let id = outbox.endpoints("school").await.unwrap()[0].id().to_owned();
    let log = get(&app, "school", "free", &format!("/{id}/log")).await;
    assert!(log.body.contains("is a Pro feature"));
}

/// A webhook added with a key pair (the form's "Sign with a key pair (v1a)") signs Standard
/// Webhooks `v1a`: its
/// edit page shows the public key (not a secret), rotation makes a new key pair and shows the
/// new public key, and requests verify with the public key alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_with_a_key_pair_shows_its_public_key() {
    let pg = Pg::start();
    let (_pool, outbox) = fresh_outbox(&pg, 10).await;
    let app = app(&outbox);
    let page = get(&app, "school", "pro", "/").await;
    assert!(
        page.body.contains("?signing=v1a"),
        "the form offers a key pair"
    );
    assert!(input_value(&page.body, "secret").starts_with("whsec_"));
    // The form with a key pair: a fresh `whsk_` key in place of the shared secret.
    let page = get(&app, "school", "pro", "?signing=v1a").await;
    let csrf = input_value(&page.body, "csrf");
    let signing = Secret::parse(&input_value(&page.body, "secret")).unwrap();
    assert_eq!(signing.form(), lms_webhooks::SecretForm::Whsk);
    assert!(page.body.contains("Use a shared secret instead"));
    let public = signing.public_key().unwrap();
    let added = post(
        &app,
        "school",
        "pro",
        "/add",
        &[
            ("csrf", &csrf),
            ("url", "http://127.0.0.1:9/v1a"),
            ("all", "1"),
            ("secret", &signing.expose_text()),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let id = outbox.endpoints("school").await.unwrap()[0].id().to_owned();
    let edit = get(&app, "school", "pro", &format!("/{id}/edit")).await;
    assert_eq!(input_value(&edit.body, "public_key"), *public.expose_text());
    assert!(
        !edit.body.contains(&signing.expose_text()[5..20]),
        "the signing key stays hidden"
    );

    // A request signed for this endpoint verifies with the public key only.
    let mut endpoint = outbox.endpoint("school", &id).await.unwrap();
    let envelope = Envelope::new(Event::sample(EventType::WebhookTest));
    let now = Timestamp::now();
    let mut delivery = lms_webhooks::Delivery::new(
        now,
        envelope.id().as_str(),
        endpoint.shared_id(),
        envelope.to_bytes().unwrap(),
    );
    let request = endpoint.request(now, &mut delivery).unwrap();
    let got = Receiver::new(Profile::standard())
        .with_secret(public.clone())
        .receive(now, request.headers(), request.body())
        .unwrap();
    assert_eq!(got.event, *envelope.event());

    // Rotation: a new key pair, its public key shown beside the new signing key.
    let rotated = post(
        &app,
        "school",
        "pro",
        &format!("/{id}/rotate"),
        &[("csrf", &csrf), ("grace_hours", "1")],
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_signing = Secret::parse(&input_value(&rotated.body, "secret_shown")).unwrap();
    let new_public = new_signing.public_key().expect("still a key pair");
    assert_ne!(new_public, public);
    assert_eq!(
        input_value(&rotated.body, "public_key"),
        *new_public.expose_text()
    );
    let edit = get(&app, "school", "pro", &format!("/{id}/edit")).await;
    assert_eq!(
        input_value(&edit.body, "public_key"),
        *new_public.expose_text()
    );
}

/// The list shows each webhook's health as the worker left it: "Last Triggered" (never
/// "Never" once a worker sent to it) and, for one whose deliveries fail, how many in a row and
/// since when.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_last_triggered_and_failures_set_by_the_worker() {
    use lms_webhooks::retry::RetrySchedule;

    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let app = app(&outbox);
    let (ok_url, _) = receiver(200, "ok");
    let (down_url, _) = receiver(500, "down");
    let (ok_id, _) = add(&app, "school", "pro", &ok_url).await;
    let (down_id, _) = add(&app, "school", "pro", &down_url).await;
    // One attempt and no retry for the failing one, so that its delivery gives up at once.
    outbox
        .edit_endpoint("school", &down_id, |e| {
            *e = e
                .clone()
                .with_delivery(RetrySchedule::none(), Default::default());
            Ok(())
        })
        .await
        .unwrap();
    let before = get(&app, "school", "pro", "/").await.body;
    assert_eq!(before.matches("Never").count(), 2, "{before}");

    let mut tx = pool.begin().await.unwrap();
    let envelope = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    outbox.publish(&mut tx, "school", &envelope).await.unwrap();
    tx.commit().await.unwrap();
    let transport = loopback_transport();
    let stats = Worker::new(outbox.clone(), transport)
        .with_poll_interval(Duration::from_millis(20))
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!((stats.delivered, stats.gave_up), (1, 1));

    let after = get(&app, "school", "pro", "/").await.body;
    assert!(!after.contains("Never"), "{after}");
    let row = |id: &str| {
        let at = after.find(&format!("data-id=\"{id}\"")).unwrap();
        after[at..at + after[at..].find("</tr>").unwrap()].to_owned()
    };
    assert!(!row(&ok_id).contains("failed in a row"), "{}", row(&ok_id));
    let down = row(&down_id);
    assert!(down.contains("1 failed in a row; failing since"), "{down}");
}

/// Hardening (issue "attacked as a hostile tenant would"), item 1: the router sends the
/// browser-side protections itself, and no page showing a secret may be cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_carries_the_browser_side_protections() {
    let pg = Pg::start();
    let (_pool, outbox) = fresh_outbox(&pg, 5).await;
    let app = app(&outbox);
    let list = get(&app, "school", "pro", "/").await;
    let csp = list.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert_eq!(list.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(list.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(list.headers[header::REFERRER_POLICY], "same-origin");
    // The list's add form holds a fresh secret: never stored by a cache.
    assert_eq!(list.headers[header::CACHE_CONTROL], "no-store");
    let (id, _) = add(&app, "school", "pro", "http://127.0.0.1:9/x").await;
    let edit = get(&app, "school", "pro", &format!("/{id}/edit")).await;
    let csrf = input_value(&edit.body, "csrf");
    let rotated = post(
        &app,
        "school",
        "pro",
        &format!("/{id}/rotate"),
        &[("csrf", &csrf), ("grace_hours", "1")],
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert!(rotated.body.contains("whsec_"));
    assert_eq!(rotated.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(rotated.headers[header::X_FRAME_OPTIONS], "DENY");
    // The static assets may be cached, and carry nosniff too.
    let js = get(&app, "school", "pro", "/assets/admin.js").await;
    assert_eq!(js.headers[header::CACHE_CONTROL], "max-age=3600");
    assert_eq!(js.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

/// Item 2: a form's CSRF token is bound to the browser session the router set (a signed,
/// HttpOnly, SameSite=Strict cookie with a lifetime), and the Origin is compared with the
/// configured origin, scheme included, never with `X-Forwarded-Host`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_tokens_are_bound_to_a_browser_session_and_the_configured_origin() {
    let pg = Pg::start();
    let (_pool, outbox) = fresh_outbox(&pg, 5).await;
    let app = app(&outbox);
    let (id, _) = add(&app, "school", "pro", "http://127.0.0.1:9/x").await;
    let list = get(&app, "school", "pro", "/").await;
    let token = input_value(&list.body, "csrf");
    let cookie = app.cookies.lock().unwrap()["school"].clone();
    assert!(cookie.starts_with("lmsw_admin_session="), "{cookie}");

    // Another browser of the same tenant (another session): its own token; ours is refused.
    let other = Browser {
        router: app.router.clone(),
        cookies: Mutex::default(),
    };
    let theirs = input_value(&get(&other, "school", "pro", "/").await.body, "csrf");
    assert_ne!(theirs, token);
    let stolen = post(
        &other,
        "school",
        "pro",
        &format!("/{id}/pause"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    // No session cookie at all: refused, even with a token.
    let req = Request::post(format!("/settings/webhooks/{id}/pause"))
        .header("x-tenant", "school")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={token}")))
        .unwrap();
    let anonymous = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
    // The cookie as set: HttpOnly, SameSite=Strict, a lifetime, the page's path.
    let set = get(&other, "fresh", "pro", "/").await.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=43200",
        "Path=/settings/webhooks",
    ] {
        assert!(set.contains(part), "{set}");
    }
    // A forged X-Forwarded-Host does not make another site's form same-origin.
    let req = Request::post(format!("/settings/webhooks/{id}/pause"))
        .header("x-tenant", "school")
        .header(header::HOST, "127.0.0.1:8080")
        .header("x-forwarded-host", "evil.example")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={token}")))
        .unwrap();
    assert_eq!(call(&app, req).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        outbox.endpoint("school", &id).await.unwrap().status(),
        lms_webhooks::EndpointStatus::Active
    );

    // With the origin configured, it is compared whole: http:// is not https://.
    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5)).unwrap();
    let admin = Admin::new(outbox.clone(), transport, |req: &http::request::Parts| {
        let tenant = req.headers.get("x-tenant")?.to_str().ok()?.to_owned();
        Some(Access::new(tenant, Plan::pro()))
    })
    .unwrap()
    .with_origin("https://lms.example")
    .unwrap()
    .with_session_lifetime(Duration::from_secs(1));
    assert!(Admin::new(
        outbox.clone(),
        ReqwestTransport::new(Duration::from_secs(1), Duration::from_secs(1)).unwrap(),
        |_: &http::request::Parts| None
    )
    .unwrap()
    .with_origin("lms.example")
    .is_err());
    let secure = Browser {
        router: Router::new().nest("/settings/webhooks", admin.router()),
        cookies: Mutex::default(),
    };
    let page = get(&secure, "school", "pro", "/").await;
    assert!(page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("; Secure"));
    let token = input_value(&page.body, "csrf");
    let cookie = secure.cookies.lock().unwrap()["school"].clone();
    let pause = |origin: &'static str, cookie: &str, token: &str| {
        Request::post(format!("/settings/webhooks/{id}/pause"))
            .header("x-tenant", "school")
            .header(header::HOST, "lms.example")
            .header(header::ORIGIN, origin)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={token}")))
            .unwrap()
    };
    let plain = secure
        .router
        .clone()
        .oneshot(pause("http://lms.example", &cookie, &token))
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::FORBIDDEN);
    // The session expires: its token with it.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let late = secure
        .router
        .clone()
        .oneshot(pause("https://lms.example", &cookie, &token))
        .await
        .unwrap();
    assert_eq!(late.status(), StatusCode::FORBIDDEN);
    // A fresh session's token goes through.
    secure.cookies.lock().unwrap().clear();
    let page = get(&secure, "school", "pro", "/").await;
    let token = input_value(&page.body, "csrf");
    let cookie = secure.cookies.lock().unwrap()["school"].clone();
    let fresh = secure
        .router
        .clone()
        .oneshot(pause("https://lms.example", &cookie, &token))
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        outbox.endpoint("school", &id).await.unwrap().status(),
        lms_webhooks::EndpointStatus::Paused
    );
}

/// Item 3: bad ids are 404, bad numbers 400, a database error a generic 500: no panic, no
/// internals on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_and_numbers_are_refused_without_internals() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 5).await;
    let app = app(&outbox);
    let (id, _) = add(&app, "school", "pro", "http://127.0.0.1:9/x").await;
    for path in [
        "/a%00b/edit",
        "/a%00b/log",
        "/%0A/delete",
        &format!("/{}/edit", "x".repeat(300)),
    ] {
        let page = get(&app, "school", "pro", path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
        assert!(
            !page.body.contains("invalid byte sequence"),
            "{}",
            page.body
        );
    }
    for path in [
        "?page=200000000000000000",
        "?page=-1",
        "?page=abc",
        "?page=4294967295",
        "?before=not-a-position",
    ] {
        let page = get(&app, "school", "pro", &format!("/{id}/log{path}")).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            page.body
        );
    }
    pool.close().await;
    outbox.pool().close().await;
    let page = get(&app, "school", "pro", "/").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.body.contains("it has been logged"), "{}", page.body);
    assert!(!page.body.to_lowercase().contains("pool"), "{}", page.body);
}

/// Item 4: an endpoint holds at most 256 event patterns (a clear error, nothing saved), and
/// the list is paginated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_are_capped_and_the_list_is_paginated() {
    let pg = Pg::start();
    let (_pool, outbox) = fresh_outbox(&pg, 5).await;
    let app = app(&outbox);
    let list = get(&app, "school", "pro", "/").await;
    let csrf = input_value(&list.body, "csrf");
    let secret = input_value(&list.body, "secret");
    let patterns: Vec<String> = (0..300).map(|i| format!("lms.custom.e{i}")).collect();
    let mut form: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("url", "http://127.0.0.1:9/x"),
        ("secret", &secret),
    ];
    form.extend(patterns.iter().map(|p| ("events", p.as_str())));
    let refused = post(&app, "school", "pro", "/add", &form).await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(refused.body.contains("at most 256"), "{}", refused.body);
    assert_eq!(outbox.endpoint_count("school").await.unwrap(), 0);

    for i in 0..60 {
        let (e, _) = lms_webhooks::Endpoint::create(
            Timestamp::now(),
            format!("wh_{i:03}"),
            "http://127.0.0.1:9/x",
            &loopback(),
        )
        .unwrap();
        outbox.add_endpoint("school", &e, None).await.unwrap();
    }
    let first = get(&app, "school", "pro", "/").await;
    assert_eq!(first.body.matches("<tr data-id=").count(), 50);
    assert!(
        first.body.contains("60 webhooks"),
        "the count is of all of them"
    );
    assert!(
        first.body.contains("?after=wh_049"),
        "a link to the next page"
    );
    let second = get(&app, "school", "pro", "?after=wh_049").await;
    assert_eq!(second.body.matches("<tr data-id=").count(), 10);
    assert!(second.body.contains("data-id=\"wh_059\""));
    assert!(!second.body.contains("?after="));
}

/// Item 5: the add form's secret field is read-only in the page, but the server checks what
/// is posted: weak secrets are refused with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_posted_secrets_are_refused() {
    let pg = Pg::start();
    let (_pool, outbox) = fresh_outbox(&pg, 5).await;
    let app = app(&outbox);
    let list = get(&app, "school", "pro", "/").await;
    let csrf = input_value(&list.body, "csrf");
    let zeros = format!("base64:{}", "AAAAAAAAAAAAAAAAAAAAAAAA"); // 18 zero bytes
    for (weak, says) in [
        ("a".repeat(32), "too easy to guess"),
        (zeros, "at least 24"),
    ] {
        let page = post(
            &app,
            "school",
            "pro",
            "/add",
            &[
                ("csrf", &csrf),
                ("url", "http://127.0.0.1:9/x"),
                ("all", "1"),
                ("secret", &weak),
            ],
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{weak}");
        assert!(page.body.contains(says), "{weak}: {}", page.body);
    }
    assert_eq!(outbox.endpoint_count("school").await.unwrap(), 0);
    // The page's own secret passes.
    let secret = input_value(&list.body, "secret");
    let added = post(
        &app,
        "school",
        "pro",
        "/add",
        &[
            ("csrf", &csrf),
            ("url", "http://127.0.0.1:9/x"),
            ("all", "1"),
            ("secret", &secret),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
}

/// A setter on an `Admin` that was cloned before (say, a router already built) applies to the
/// one it is called on: it used to do nothing, silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setters_apply_even_after_the_admin_was_cloned() {
    let pg = Pg::start();
    let (_pool, outbox) = fresh_outbox(&pg, 5).await;
    let transport = ReqwestTransport::new(Duration::from_secs(1), Duration::from_secs(1)).unwrap();
    let admin = Admin::new(outbox, transport, |req: &http::request::Parts| {
        let tenant = req.headers.get("x-tenant")?.to_str().ok()?.to_owned();
        Some(Access::new(tenant, Plan::pro()))
    })
    .unwrap();
    let before = admin.clone();
    let admin = admin.with_session_lifetime(Duration::from_secs(60));
    let cookie_of = |admin: &Admin| {
        let router = Router::new().nest("/w", admin.router());
        async move {
            let req = Request::get("/w")
                .header("x-tenant", "s")
                .body(Body::empty())
                .unwrap();
            let response = router.oneshot(req).await.unwrap();
            response.headers()[header::SET_COOKIE]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    assert!(cookie_of(&admin).await.contains("Max-Age=60"));
    assert!(
        cookie_of(&before).await.contains("Max-Age=43200"),
        "the clone kept its own"
    );
}

/// The list answers at the mount point with and without a trailing slash, and the router
/// nests in a host's router that has a state of its own (no `.with_state(())` needed).
#[tokio::test]
async fn the_list_answers_with_a_trailing_slash_and_nests_under_any_state() {
    let pg = Pg::start();
    let (_pool, outbox) = fresh_outbox(&pg, 4).await;
    let app = app(&outbox);
    let request = |path: &str| {
        Request::get(path)
            .header("x-tenant", "school")
            .header("x-plan", "pro")
            .body(Body::empty())
            .unwrap()
    };
    let page = call(&app, request("/settings/webhooks")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Add New Webhook"));
    // With the slash: sent to the list, the query kept.
    let page = call(&app, request("/settings/webhooks/?page=1")).await;
    assert_eq!(page.status, StatusCode::PERMANENT_REDIRECT, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/settings/webhooks?page=1"));
    let page = call(&app, request("/settings/webhooks/nothing/here")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);

    #[derive(Clone)]
    struct HostState {
        name: &'static str,
    }
    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5)).unwrap();
    let admin = Admin::new(outbox.clone(), transport, |_: &http::request::Parts| {
        Some(Access::new("school", Plan::pro()))
    })
    .unwrap();
    let host: Router<HostState> = Router::new()
        .route(
            "/",
            axum::routing::get(
                |axum::extract::State(s): axum::extract::State<HostState>| async move { s.name },
            ),
        )
        .nest("/webhooks", admin.router());
    let host: Router = host.with_state(HostState { name: "lms" });
    for (path, expected) in [("/", "lms"), ("/webhooks", "Add New Webhook")] {
        let response = host
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains(expected), "{path}");
    }

    assert!(Admin::new(
        outbox.clone(),
        ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5)).unwrap(),
        |_: &http::request::Parts| None
    )
    .unwrap()
    .with_csrf_key(b"too short")
    .is_err());
}

/// Runs a worker until the queue is done.
async fn deliver(outbox: &Outbox) {
    worker(outbox).run_until_idle().await.unwrap();
}

async fn publish(pool: &sqlx::PgPool, outbox: &Outbox, t: EventType) -> Envelope {
    let event = Envelope::new(Event::sample(t));
    let mut tx = pool.begin().await.unwrap();
    outbox.publish(&mut tx, "school", &event).await.unwrap();
    tx.commit().await.unwrap();
    event
}

/// The first `href` that starts with `prefix` in a page (unescaped `&amp;`).
fn link(page: &str, prefix: &str) -> String {
    let at = page
        .find(&format!("href=\"{prefix}"))
        .unwrap_or_else(|| panic!("no link to {prefix}"));
    let rest = &page[at + 6..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_shows_health_filters_and_each_attempts_detail() {
    use lms_webhooks::delivery::SuccessRule;
    use lms_webhooks::retry::RetrySchedule;
    use lms_webhooks::Endpoint;
    use std::sync::atomic::{AtomicU16, Ordering};

    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let app = app(&outbox);
    let answer = Arc::new(AtomicU16::new(200));
    let a = Arc::clone(&answer);
    let (url, _) = recording(move || (a.load(Ordering::SeqCst), "receiver says hi"));
    let (e, _) = Endpoint::create(Timestamp::now(), "wh_shop", &url, &loopback()).unwrap();
    let e = e.with_delivery(RetrySchedule::none(), SuccessRule::Any2xx);
    outbox.add_endpoint("school", &e, None).await.unwrap();
    // A sale delivered, then a completion refused (500: with no retries, it gives up).
    let sale = publish(&pool, &outbox, EventType::SalesTransactionCompleted).await;
    deliver(&outbox).await;
    answer.store(500, Ordering::SeqCst);
    let done = publish(&pool, &outbox, EventType::CourseMemberCompleted).await;
    deliver(&outbox).await;
    let (sale_id, done_id) = (sale.id().as_str(), done.id().as_str());

    // The health panel: 24 hourly bars, this hour's with both attempts, one failed; the rate,
    // the latency, and why the status is what it is.
    let log = get(&app, "school", "pro", "/wh_shop/log").await;
    assert_eq!(log.status, StatusCode::OK);
    let page = &log.body;
    assert_eq!(page.matches("class=\"bar\"").count(), 24);
    assert!(
        page.contains("data-attempts=\"2\" data-failures=\"1\""),
        "{page}"
    );
    assert!(page.contains("50.0 %"));
    assert!(page.contains(" ms / ") && page.contains("2 attempts"));
    assert!(page.contains("Failing since"), "{page}");
    assert!(page.contains(sale_id) && page.contains(done_id));

    // Filters: by type, by result, by dates; the links carry them.
    let by_type = get(
        &app,
        "school",
        "pro",
        "/wh_shop/log?type=sales.transaction.completed",
    )
    .await;
    assert!(by_type.body.contains(sale_id) && !by_type.body.contains(done_id));
    let gave_up = get(&app, "school", "pro", "/wh_shop/log?result=gave_up&type=").await;
    assert!(gave_up.body.contains(done_id) && !gave_up.body.contains(sale_id));
    let none = get(
        &app,
        "school",
        "pro",
        "/wh_shop/log?type=course.member.completed&result=delivered",
    )
    .await;
    assert!(none.body.contains("No attempt matches."));
    let future = get(&app, "school", "pro", "/wh_shop/log?from=2999-01-01T00:00").await;
    assert!(future.body.contains("No attempt matches."));
    let past = get(
        &app,
        "school",
        "pro",
        "/wh_shop/log?from=2000-01-01T00:00&to=2999-01-01T00:00",
    )
    .await;
    assert!(past.body.contains(sale_id) && past.body.contains(done_id));
    for bad in ["result=bogus", "from=yesterday", "to=2026-13-01T00:00"] {
        let refused = get(&app, "school", "pro", &format!("/wh_shop/log?{bad}")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // An attempt's detail: the response, and the request's headers without the signature.
    let detail = link(&gave_up.body, "/settings/webhooks/wh_shop/attempt?");
    let detail = get(
        &app,
        "school",
        "pro",
        detail.trim_start_matches("/settings/webhooks"),
    )
    .await;
    assert_eq!(detail.status, StatusCode::OK);
    let page = &detail.body;
    assert!(page.contains(done_id) && page.contains("course.member.completed"));
    assert!(
        page.contains(">500<") && page.contains("receiver says hi"),
        "{page}"
    );
    assert!(page.contains("webhook-id") && page.contains("webhook-timestamp"));
    assert!(page.contains("application/json"));
    assert!(
        !page.contains("webhook-signature") && !page.contains("v1,"),
        "{page}"
    );
    // Not another tenant's, not one that does not exist.
    let path = link(&gave_up.body, "/settings/webhooks/wh_shop/attempt?");
    let path = path.trim_start_matches("/settings/webhooks");
    assert_eq!(
        get(&app, "other", "pro", path).await.status,
        StatusCode::NOT_FOUND
    );
    let missing = "/wh_shop/attempt?delivery=999999&number=1";
    assert_eq!(
        get(&app, "school", "pro", missing).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "school", "free", path).await.status,
        StatusCode::FORBIDDEN
    );

    // Resend from the detail page: a new attempt, delivered this time.
    answer.store(200, Ordering::SeqCst);
    let resent = post(
        &app,
        "school",
        "pro",
        "/wh_shop/resend",
        &[("csrf", &input_value(page, "csrf")), ("event", done_id)],
    )
    .await;
    assert_eq!(resent.status, StatusCode::SEE_OTHER, "{}", resent.body);
    deliver(&outbox).await;
    let delivered = get(
        &app,
        "school",
        "pro",
        "/wh_shop/log?result=delivered&type=course.member.completed",
    )
    .await;
    assert!(delivered.body.contains(done_id), "{}", delivered.body);
}

/// The form offers the operational events apart from Select all: an operations endpoint
/// subscribes to them by name, and `*` never means them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_events_are_chosen_apart_from_select_all() {
    let pg = Pg::start();
    let (_pool, outbox) = fresh_outbox(&pg, 10).await;
    let app = app(&outbox);
    let list = get(&app, "school", "pro", "/").await;
    assert!(list.body.contains("value=\"operational.endpoint.failed\""));
    for (url, form) in [
        (
            "http://127.0.0.1:9/ops",
            vec![
                ("ops", "operational.endpoint.failed"),
                ("ops", "operational.delivery.exhausted"),
            ],
        ),
        (
            "http://127.0.0.1:9/everything",
            vec![("all", "1"), ("ops", "operational.endpoint.disabled")],
        ),
    ] {
        let page = get(&app, "school", "pro", "/").await;
        let (csrf, secret) = (
            input_value(&page.body, "csrf"),
            input_value(&page.body, "secret"),
        );
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("url", url),
            ("secret", secret.as_str()),
        ];
        fields.extend(form);
        let added = post(&app, "school", "pro", "/add", &fields).await;
        assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    }
    let endpoints = outbox.endpoints("school").await.unwrap();
    let find = |suffix: &str| {
        endpoints
            .iter()
            .find(|e| e.url().as_str().ends_with(suffix))
            .unwrap()
    };
    let ops = find("/ops");
    assert!(ops.subscribes_to("operational.endpoint.failed"));
    assert!(ops.subscribes_to("operational.delivery.exhausted"));
    assert!(!ops.subscribes_to("operational.endpoint.recovered"));
    assert!(!ops.subscribes_to("sales.transaction.completed"));
    let everything = find("/everything");
    assert!(everything.subscribes_to("sales.transaction.completed"));
    assert!(everything.subscribes_to("operational.endpoint.disabled"));
    assert!(!everything.subscribes_to("operational.endpoint.failed"));
    // The edit form shows them checked.
    let edit = get(&app, "school", "pro", &format!("/{}/edit", ops.id())).await;
    assert!(
        edit.body
            .contains("value=\"operational.endpoint.failed\" checked"),
        "{}",
        edit.body
    );
    assert!(!edit
        .body
        .contains("value=\"operational.endpoint.recovered\" checked"));
}
