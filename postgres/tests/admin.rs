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
use support::store::{fresh_outbox, loopback};
use tower::ServiceExt;

/// The host's "authentication" in these tests: headers a real host's middleware would have
/// turned into a user.
fn app(outbox: &Outbox) -> Router {
    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(loopback())
        .unwrap();
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
    Router::new().nest("/settings/webhooks", admin.router())
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

async fn call(app: &Router, req: Request<Body>) -> Page {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
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
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(app: &Router, tenant: &str, plan: &str, path: &str) -> Page {
    let path = if path == "/" { "" } else { path };
    let req = Request::get(format!("/settings/webhooks{path}"))
        .header("x-tenant", tenant)
        .header("x-plan", plan)
        .body(Body::empty())
        .unwrap();
    call(app, req).await
}

async fn post(app: &Router, tenant: &str, plan: &str, path: &str, form: &[(&str, &str)]) -> Page {
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
async fn add(app: &Router, tenant: &str, plan: &str, url: &str) -> (String, String) {
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
type Requests = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// A loopback receiver answering `status` with `body`, keeping every request.
fn receiver(status: u16, body: &'static str) -> (String, Requests) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let headers = request
                .headers()
                .iter()
                .map(|h| (h.field.to_string(), h.value.to_string()))
                .collect();
            let mut bytes = Vec::new();
            let _ = request.as_reader().read_to_end(&mut bytes);
            keep.lock().unwrap().push((headers, bytes));
            let _ =
                request.respond(tiny_http::Response::from_string(body).with_status_code(status));
        }
    });
    (url, seen)
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
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let endpoint = outbox.endpoint("school", &id).await.unwrap();
    assert_eq!(endpoint.url().as_str(), new_url);
    assert!(!endpoint.subscribes_to("course.member.completed"));
    let mut tx = pool.begin().await.unwrap();
    let sale = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    outbox.publish(&mut tx, "school", &sale).await.unwrap();
    tx.commit().await.unwrap();
    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(loopback())
        .unwrap();
    Worker::new(outbox.clone(), transport)
        .with_poll_interval(Duration::from_millis(50))
        .run_until_idle()
        .await
        .unwrap();
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
    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(loopback())
        .unwrap();
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
