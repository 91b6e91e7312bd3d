//! Endpoints: the SSRF policy, statuses, rotation, plan limits, test ping and fan-out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use lms_webhooks::delivery::{GiveUpReason, Next};
use lms_webhooks::delivery::{Outcome, SuccessRule};
use lms_webhooks::endpoint::{
    fan_out, AddressClass, Endpoint, EndpointError, EndpointStatus, EventFilter, Registry,
    UrlError, UrlPolicy,
};
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::signature::{BodyHmacHex, Verifier};
use lms_webhooks::{EncryptionKey, Envelope, Event, EventType, Scheme, Secret, Timestamp};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap()
}

const T0: i64 = 1_800_000_000;

/// The kind of refusal, spelled as in the table below.
fn why(e: &UrlError) -> String {
    match e {
        UrlError::Address { class, .. } => format!("Addr({class:?})"),
        UrlError::Name { .. } => "Name".to_owned(),
        UrlError::Scheme { .. } => "Scheme".to_owned(),
        UrlError::Credentials => "Credentials".to_owned(),
        UrlError::Invalid { .. } | UrlError::InvalidHost { .. } => "Invalid".to_owned(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn hostile_urls_are_refused_with_the_right_reason() {
    let cases: &[(&str, &str)] = &[
        ("https://127.0.0.1/", "Loopback"),
        ("https://127.255.255.254:8443/x", "Loopback"),
        ("https://0x7f.1/", "Loopback"),
        ("https://2130706433/", "Loopback"),
        ("https://017700000001/", "Loopback"),
        ("https://0177.0.0.1/", "Loopback"),
        ("https://127.1/", "Loopback"),
        ("https://0x7f000001/", "Loopback"),
        ("https://[::1]/", "Loopback"),
        ("https://0.0.0.0/", "Unspecified"),
        ("https://0/", "Unspecified"),
        ("https://[::]/", "Unspecified"),
        ("https://10.0.0.5/", "Private"),
        ("https://172.16.3.4/", "Private"),
        ("https://172.31.255.255/", "Private"),
        ("https://192.168.1.1/", "Private"),
        ("https://3232235777/", "Private"),
        ("https://[fd00::1]/", "Private"),
        ("https://[fc12:3456::1]/", "Private"),
        ("https://[fec0::1]/", "Private"),
        ("https://169.254.169.254/latest/meta-data/", "LinkLocal"),
        ("https://[fe80::1]/", "LinkLocal"),
        ("https://100.64.0.1/", "SharedCgnat"),
        ("https://100.127.255.255/", "SharedCgnat"),
        ("https://224.0.0.1/", "Multicast"),
        ("https://239.255.255.250/", "Multicast"),
        ("https://[ff02::1]/", "Multicast"),
        ("https://255.255.255.255/", "Broadcast"),
        ("https://192.0.2.10/", "Documentation"),
        ("https://198.51.100.7/", "Documentation"),
        ("https://203.0.113.9/", "Documentation"),
        ("https://[2001:db8::1]/", "Documentation"),
        ("https://[3fff::1]/", "Documentation"),
        ("https://198.18.0.1/", "Benchmarking"),
        ("https://198.19.255.1/", "Benchmarking"),
        ("https://[2001:2::1]/", "Benchmarking"),
        ("https://240.0.0.1/", "Reserved"),
        ("https://192.0.0.8/", "Reserved"),
        ("https://192.88.99.1/", "Reserved"),
        ("https://[::ffff:127.0.0.1]/", "Loopback"),
        ("https://[::ffff:10.0.0.1]/", "Private"),
        ("https://[::ffff:8.8.8.8]/", "None"),
        ("https://[::127.0.0.1]/", "Ipv4Embedded"),
        ("https://[2002:7f00:1::1]/", "Ipv4Embedded"),
        ("https://[64:ff9b::7f00:1]/", "Ipv4Embedded"),
        ("https://[64:ff9b:1::1]/", "Ipv4Embedded"),
        (
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "Ipv4Embedded",
        ),
        ("https://[100::1]/", "Discard"),
        ("https://[4000::1]/", "Reserved"),
        ("https://localhost/", "Name"),
        ("https://LOCALHOST./", "Name"),
        ("https://api.localhost/", "Name"),
        ("https://printer.local/", "Name"),
        ("https://metadata.google.internal/", "Name"),
        ("https://router.home.arpa/", "Name"),
        ("https://intranet/", "Name"),
        // Not under a public suffix: they can only resolve inside a private network.
        ("https://kubernetes.default.svc/", "Name"),
        ("https://localhost4.localdomain4/", "Name"),
        ("https://router.lan/", "Name"),
        ("https://nas.home/", "Name"),
        ("https://dc01.corp/", "Name"),
        ("https://wiki.intranet/", "Name"),
        ("https://hooks.example/", "Name"),
        ("https://co.uk/", "Name"),
        ("http://hooks.example.com/", "Scheme"),
        ("ftp://hooks.example.com/", "Scheme"),
        ("file:///etc/passwd", "Invalid"),
        ("gopher://127.0.0.1:25/", "Scheme"),
        ("https://user:pass@hooks.example.com/", "Credentials"),
        ("https://user@hooks.example.com/", "Credentials"),
        ("https://256.1.1.1/", "Invalid"),
        ("https://1.2.3.4.5/", "Invalid"),
        ("https://[fe80::1%25eth0]/", "Invalid"),
        ("https:///nohost", "Invalid"),
        ("not a url", "Invalid"),
        ("https://exa mple.com/", "Invalid"),
        ("https://-bad-.example.com/", "Invalid"),
        ("", "Invalid"),
        // Found by fuzzing: `http` reads the host as `[::ffff:100.0.0.1]` and drops the rest.
        ("https://[::ffff:100.0.0.1]..local/", "Invalid"),
        ("https://[2001:4860::8888]evil.internal/", "Invalid"),
        ("https://hooks.example.com:99999/", "Invalid"),
        ("https://hooks.example.com:/", "Invalid"),
    ];
    let policy = UrlPolicy::new();
    let mut refused = 0;
    for (url, want) in cases {
        // `[::ffff:8.8.8.8]` is the one public address here: the mapped form reaches a public host.
        match (policy.check(url), *want) {
            (Ok(_), "None") => continue,
            (Ok(_), _) => panic!("{url} was accepted"),
            (Err(e), want) => {
                let got = why(&e);
                let expected = match want {
                    "Name" | "Scheme" | "Credentials" | "Invalid" => want.to_owned(),
                    class => format!("Addr({class})"),
                };
                assert_eq!(got, expected, "{url}: {e}");
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    assert!(refused >= 60, "{refused}");
}

#[test]
fn names_outside_the_public_suffix_list_say_why() {
    for (url, reason) in [
        ("https://router.lan/", "not under a public suffix"),
        (
            "https://kubernetes.default.svc/",
            "not under a public suffix",
        ),
        ("https://co.uk/", "a public suffix itself"),
        ("https://intranet/", "a single-label name"),
    ] {
        let e = UrlPolicy::new().check(url).unwrap_err().to_string();
        assert!(e.contains(reason), "{url}: {e}");
    }
    // Private deployments opt in to their own names.
    let open = UrlPolicy::new().with_private_allowed(true);
    assert!(open.check("https://wiki.intranet/").is_ok());
}

#[test]
fn public_https_urls_are_accepted() {
    let policy = UrlPolicy::new();
    for url in [
        "https://hooks.example.com/lms",
        "https://hooks.zapier.com/hooks/catch/123/abc/",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/x",
        "https://api.example.co.uk:8443/v1/webhooks?token=x",
        "HTTPS://Hooks.Example.COM/",
        "https://xn--bcher-kva.ch/",
        "https://my-lms.herokuapp.com/hooks",
        "https://crm.example.com./in",
        "https://100.63.255.255/",
        "https://172.32.0.1/",
    ] {
        assert_eq!(policy.check(url).map(|_| ()), Ok(()), "{url}");
    }
}

#[test]
fn opt_ins_and_allowlists() {
    let open = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    for url in [
        "http://127.0.0.1:8080/",
        "http://localhost:3000/h",
        "https://10.1.2.3/",
        "http://[::1]/",
        "http://printer.local/",
    ] {
        assert_eq!(open.check(url).map(|_| ()), Ok(()), "{url}");
    }
    // Still refused with private allowed: the ranges that never make sense.
    for url in [
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://192.0.2.1/",
    ] {
        assert!(open.check(url).is_err(), "{url}");
    }
    let listed = UrlPolicy::new()
        .with_allowed_host("hooks.internal")
        .with_allowed_ip("10.9.8.7".parse().unwrap());
    assert_eq!(listed.check("https://hooks.internal/").map(|_| ()), Ok(()));
    assert_eq!(listed.check("https://10.9.8.7/").map(|_| ()), Ok(()));
    assert!(listed.check("https://10.9.8.6/").is_err());
}

#[test]
fn resolved_addresses_are_checked_before_connecting() {
    let policy = UrlPolicy::new();
    let public: IpAddr = "93.184.215.14".parse().unwrap();
    let private: IpAddr = "192.168.0.10".parse().unwrap();
    let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    assert_eq!(
        policy.check_resolved("hooks.example.com", &[public]),
        Ok(())
    );
    assert!(matches!(
        policy.check_resolved("rebind.example.com", &[public, private]),
        Err(UrlError::Address {
            class: AddressClass::Private,
            ..
        })
    ));
    assert!(matches!(
        policy.check_resolved("rebind.example.com", &[mapped]),
        Err(UrlError::Address {
            class: AddressClass::Loopback,
            ..
        })
    ));
}

fn endpoint(id: &str) -> Endpoint {
    Endpoint::create(
        at(T0),
        id,
        &format!("https://{id}.example.com/hooks"),
        &UrlPolicy::new(),
    )
    .unwrap()
    .0
}

#[test]
fn creation_shows_the_secret_once_and_debug_never() {
    let (e, shown) =
        Endpoint::create(at(T0), "ep_1", "https://a.example.com/", &UrlPolicy::new()).unwrap();
    assert!(shown.starts_with("whsec_"));
    let debug = format!("{e:?}");
    assert!(!debug.contains(&shown[6..]), "{debug}");
    assert_eq!(e.secret_hint(), format!("…{}", &shown[shown.len() - 4..]));
    assert_eq!(e.status(), EndpointStatus::Active);
    assert!(Endpoint::create(at(T0), "ep_2", "http://a.example.com/", &UrlPolicy::new()).is_err());
}

#[test]
fn edits_keep_the_secret() {
    let mut e = endpoint("ep");
    let before = e.signing_secrets(at(T0));
    e.set_url(at(T0 + 1), "https://new.example.com/h", &UrlPolicy::new())
        .unwrap();
    e.set_filter(at(T0 + 2), EventFilter::parse(["crm.*"]).unwrap());
    assert_eq!(e.signing_secrets(at(T0 + 3)), before);
    assert_eq!(e.url(), "https://new.example.com/h");
    assert_eq!(e.updated_at(), at(T0 + 2));
    assert!(e
        .set_url(at(T0 + 4), "https://127.0.0.1/", &UrlPolicy::new())
        .is_err());
    assert_eq!(e.url(), "https://new.example.com/h");
}

#[test]
fn filters_exact_categories_all_and_custom() {
    let f = EventFilter::parse(["sales.*", "course.member.completed", "lms.badge.earned"]).unwrap();
    assert!(f.matches("sales.transaction.completed"));
    assert!(f.matches("sales.subscription.trial_ending"));
    assert!(f.matches("course.member.completed"));
    assert!(!f.matches("course.member.added"));
    assert!(f.matches("lms.badge.earned"));
    assert!(!f.matches("salesforce.x"));
    assert!(EventFilter::all().matches("crm.user.created"));
    assert!(EventFilter::parse(["Sales.*"]).is_err());
    assert!(EventFilter::parse(["sales"]).is_err());
    let json = serde_json::to_string(&f).unwrap();
    assert_eq!(serde_json::from_str::<EventFilter>(&json).unwrap(), f);
}

#[test]
fn paused_endpoints_hold_deliveries_and_lose_nothing() {
    let mut paused = endpoint("paused");
    let active = endpoint("active");
    let mut disabled = endpoint("disabled");
    paused.pause(at(T0));
    disabled.disable(at(T0));
    let mut held = Vec::new();
    for t in [
        EventType::SalesTransactionCompleted,
        EventType::CrmUserCreated,
        EventType::CourseQuizPassed,
    ] {
        let out = fan_out(
            at(T0),
            &Envelope::new(Event::sample(t)),
            &[paused.clone(), active.clone(), disabled.clone()],
        )
        .unwrap();
        assert_eq!(out.deliveries.len(), 1);
        assert_eq!(out.deliveries[0].endpoint_id(), "active");
        assert_eq!(out.skipped.len(), 1);
        assert_eq!(out.skipped[0].status, EndpointStatus::Disabled);
        held.extend(out.held);
    }
    assert_eq!(held.len(), 3);
    assert!(!paused.may_send());
    paused.resume(at(T0 + 100));
    assert!(paused.may_send());
    // Every held delivery goes out after the resume.
    for mut d in held {
        assert_eq!(d.endpoint_id(), "paused");
        paused.request(at(T0 + 100), &mut d).unwrap();
        assert_eq!(
            paused
                .record(at(T0 + 100), &mut d, Outcome::status(200))
                .unwrap(),
            Next::Done
        );
    }
}

#[test]
fn failures_in_a_row_set_failed_and_a_success_resets() {
    let mut e = endpoint("ep").with_failure_rule(3, Duration::from_secs(10 * 86_400));
    let gave_up = Next::GaveUp(GiveUpReason::Exhausted);
    assert_eq!(e.record_result(at(T0), gave_up), EndpointStatus::Active);
    assert_eq!(
        e.record_result(at(T0 + 10), gave_up),
        EndpointStatus::Active
    );
    assert_eq!(
        e.record_result(at(T0 + 20), Next::Done),
        EndpointStatus::Active
    );
    assert_eq!(e.consecutive_failures(), 0);
    for i in 0..2 {
        assert_eq!(
            e.record_result(at(T0 + 30 + i), gave_up),
            EndpointStatus::Active
        );
    }
    assert_eq!(
        e.record_result(at(T0 + 40), gave_up),
        EndpointStatus::Failed
    );
    // Failed endpoints' events are held, not lost.
    let out = fan_out(
        at(T0 + 50),
        &Envelope::new(Event::sample(EventType::WebhookTest)),
        std::slice::from_ref(&e),
    )
    .unwrap();
    assert_eq!((out.deliveries.len(), out.held.len()), (0, 1));
    e.reactivate(at(T0 + 60));
    assert_eq!(e.status(), EndpointStatus::Active);
    assert_eq!(e.consecutive_failures(), 0);
}

#[test]
fn a_long_failing_period_sets_failed_and_gone_disables() {
    let mut e = endpoint("ep").with_failure_rule(100, Duration::from_secs(3600));
    assert_eq!(
        e.record_result(at(T0), Next::RetryAt(at(T0 + 60))),
        EndpointStatus::Active
    );
    assert_eq!(
        e.record_result(at(T0 + 3000), Next::RetryAt(at(T0 + 4000))),
        EndpointStatus::Active
    );
    assert_eq!(
        e.record_result(at(T0 + 3601), Next::RetryAt(at(T0 + 8000))),
        EndpointStatus::Failed
    );

    let mut g = endpoint("gone");
    assert_eq!(
        g.record_result(at(T0), Next::GaveUp(GiveUpReason::Gone)),
        EndpointStatus::Disabled
    );
}

#[test]
fn a_successful_test_ping_reactivates_a_failed_endpoint() {
    let mut e = endpoint("ep")
        .with_filter(EventFilter::parse(["crm.*"]).unwrap())
        .with_failure_rule(1, Duration::from_secs(86_400));
    e.record_result(at(T0), Next::GaveUp(GiveUpReason::Exhausted));
    assert_eq!(e.status(), EndpointStatus::Failed);
    // Sent regardless of subscriptions (crm.* only) and status.
    let mut ping = e.test_delivery(at(T0 + 10)).unwrap();
    let target = e.test_target(at(T0 + 10));
    let request = ping.next_request(at(T0 + 10), &target).unwrap();
    let body = Envelope::from_slice(request.body()).unwrap();
    assert_eq!(body.event().event_type(), Some(EventType::WebhookTest));
    let verifier = Verifier::new(Scheme::standard(), e.signing_secrets(at(T0 + 10)));
    assert!(verifier
        .verify(at(T0 + 10), request.headers(), request.body())
        .is_ok());
    // A failed ping does not retry and changes nothing.
    let next = ping
        .record(at(T0 + 11), &target, Outcome::status(500))
        .unwrap();
    assert_eq!(next, Next::GaveUp(GiveUpReason::Exhausted));
    assert_eq!(
        e.record_test_result(at(T0 + 11), next),
        EndpointStatus::Failed
    );
    let mut ping = e.test_delivery(at(T0 + 20)).unwrap();
    let target = e.test_target(at(T0 + 20));
    ping.next_request(at(T0 + 20), &target).unwrap();
    let next = ping
        .record(at(T0 + 21), &target, Outcome::status(200))
        .unwrap();
    assert_eq!(
        e.record_test_result(at(T0 + 21), next),
        EndpointStatus::Active
    );
    assert_eq!(e.last_triggered_at(), Some(at(T0 + 21)));
}

#[test]
fn rotation_signs_with_both_during_the_grace_period_then_only_the_new() {
    let (mut e, old_text) =
        Endpoint::create(at(T0), "ep", "https://a.example.com/", &UrlPolicy::new()).unwrap();
    let old = Secret::parse(&old_text).unwrap();
    let new_text = e.rotate_secret(at(T0), Duration::from_secs(3600)).unwrap();
    let new = Secret::parse(&new_text).unwrap();
    assert_ne!(old, new);
    let old_only = Verifier::new(Scheme::standard(), [old.clone()]);
    let new_only = Verifier::new(Scheme::standard(), [new.clone()]);
    let envelope = Envelope::new(Event::sample(EventType::CrmUserUpdated));
    let send = |now: Timestamp| {
        let out = fan_out(now, &envelope, std::slice::from_ref(&e)).unwrap();
        let mut d = out.deliveries.into_iter().next().unwrap();
        d.next_request(now, &e.target(now)).unwrap()
    };
    let during = send(at(T0 + 1800));
    assert!(old_only
        .verify(at(T0 + 1800), during.headers(), during.body())
        .is_ok());
    assert!(new_only
        .verify(at(T0 + 1800), during.headers(), during.body())
        .is_ok());
    let after = send(at(T0 + 3601));
    assert!(old_only
        .verify(at(T0 + 3601), after.headers(), after.body())
        .is_err());
    assert!(new_only
        .verify(at(T0 + 3601), after.headers(), after.body())
        .is_ok());
    assert_eq!(e.signing_secrets(at(T0 + 3601)), vec![new]);
}

/// One target per endpoint, shared by every attempt, rebuilt whenever what it holds changes.
#[test]
fn targets_follow_every_change() {
    let mut e = endpoint("ep");
    let first = e.target(at(T0));
    assert!(Arc::ptr_eq(&first, &e.target(at(T0 + 10))));
    assert_eq!(first.endpoint_id(), Some("ep"));

    // A rotation: both secrets during the grace period, then the new one alone, and both
    // again for a clock that goes back.
    e.rotate_secret(at(T0), Duration::from_secs(3600)).unwrap();
    assert_eq!(e.target(at(T0 + 1)).secrets().len(), 2);
    assert_eq!(
        e.target(at(T0 + 3601)).secrets(),
        e.signing_secrets(at(T0 + 3601))
    );
    assert_eq!(e.target(at(T0 + 3601)).secrets().len(), 1);
    assert_eq!(e.target(at(T0 + 1)).secrets().len(), 2);

    // Every setting the target carries.
    e.set_url(at(T0), "https://moved.example.com/in", &UrlPolicy::new())
        .unwrap();
    assert_eq!(*e.target(at(T0)).url(), "https://moved.example.com/in");
    e.pause(at(T0));
    assert_eq!(e.target(at(T0)).status(), EndpointStatus::Paused);
    e.resume(at(T0));
    assert_eq!(e.target(at(T0)).status(), EndpointStatus::Active);
    let before = e.clone();
    let e = e.with_delivery(RetrySchedule::learnybox(), SuccessRule::Exactly200);
    assert_eq!(*e.target(at(T0)).retry(), RetrySchedule::learnybox());
    assert_eq!(e.target(at(T0)).success(), SuccessRule::Exactly200);
    assert_eq!(
        *before.target(at(T0)).retry(),
        RetrySchedule::standard_webhooks()
    );
    let key = EncryptionKey::from_bytes(&[9; 32]).unwrap();
    let e = e.with_encryption(key.clone());
    assert_eq!(e.target(at(T0)).encryption(), Some(&key));
    let secret = Secret::parse("a-plain-shared-secret-of-learnomy").unwrap();
    let e = e.with_signing(BodyHmacHex::learnomy(), secret.clone());
    assert_eq!(e.target(at(T0)).secrets()[0], secret);

    // A stored and reloaded endpoint builds the same target.
    let back: Endpoint = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(*back.target(at(T0)), *e.target(at(T0)));
}

#[test]
fn fan_out_serializes_once_and_shares_the_bytes() {
    let mut endpoints: Vec<Endpoint> = (0..50).map(|i| endpoint(&format!("ep{i}"))).collect();
    endpoints[7] = endpoints[7]
        .clone()
        .with_filter(EventFilter::parse(["crm.*"]).unwrap());
    let envelope = Envelope::new(Event::sample(EventType::SalesTransactionRefunded));
    let out = fan_out(at(T0), &envelope, &endpoints).unwrap();
    assert_eq!(out.deliveries.len(), 49);
    assert!(out.deliveries.iter().all(|d| d.endpoint_id() != "ep7"));
    let first = out.deliveries[0].body().as_ptr();
    // One serialization: every delivery points at the same buffer.
    assert!(out.deliveries.iter().all(|d| d.body().as_ptr() == first));
    assert_eq!(
        Envelope::from_slice(out.deliveries[0].body()).unwrap(),
        envelope
    );
    // Each delivery signs with its own endpoint's secret.
    let mut d3 = out.deliveries[3].clone();
    let r = endpoints[3].request(at(T0), &mut d3).unwrap();
    let own = Verifier::new(Scheme::standard(), endpoints[3].signing_secrets(at(T0)));
    let other = Verifier::new(Scheme::standard(), endpoints[4].signing_secrets(at(T0)));
    assert!(own.verify(at(T0), r.headers(), r.body()).is_ok());
    assert!(other.verify(at(T0), r.headers(), r.body()).is_err());
}

#[test]
fn the_registry_enforces_plan_limits() {
    let mut free = Registry::learnomy_free();
    for i in 0..3 {
        free.add(endpoint(&format!("ep{i}"))).unwrap();
    }
    assert_eq!(free.usage(), (3, Some(3)));
    let err = free.add(endpoint("ep3")).unwrap_err();
    assert_eq!(err, EndpointError::LimitReached { limit: 3 });
    assert!(err.to_string().contains("at most 3"));
    free.remove("ep1").unwrap();
    free.add(endpoint("ep3")).unwrap();
    assert!(matches!(
        free.add(endpoint("ep3")),
        Err(EndpointError::LimitReached { .. })
    ));
    let mut pro = Registry::new();
    for i in 0..20 {
        pro.add(endpoint(&format!("ep{i}"))).unwrap();
    }
    assert!(matches!(
        pro.add(endpoint("ep0")),
        Err(EndpointError::DuplicateId(_))
    ));
    assert!(matches!(
        pro.remove("nope"),
        Err(EndpointError::NotFound(_))
    ));
    let json = serde_json::to_string(&pro).unwrap();
    assert_eq!(serde_json::from_str::<Registry>(&json).unwrap(), pro);
}

#[test]
fn fan_out_renders_each_endpoint_layout_once() {
    use lms_webhooks::profile::{Layout, Profile};
    let v2 = Layout::LearnWorlds {
        version: 2,
        school_id: "s1".to_owned(),
        currency: None,
    };
    let v1 = Layout::LearnWorlds {
        version: 1,
        school_id: "s1".to_owned(),
        currency: None,
    };
    let endpoints = vec![
        endpoint("canon_a"),
        endpoint("lw2_a").with_layout(v2.clone()),
        endpoint("lw1").with_layout(v1.clone()),
        endpoint("lw2_b").with_layout(v2.clone()),
        endpoint("canon_b"),
    ];
    assert_eq!(endpoints[2].payload_version(), Some(1));
    assert_eq!(endpoints[0].payload_version(), None);
    let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
    let out = fan_out(at(T0), &envelope, &endpoints).unwrap();
    let body = |id: &str| {
        out.deliveries
            .iter()
            .find(|d| d.endpoint_id() == id)
            .unwrap()
            .body()
            .clone()
    };
    // Shared within a layout, different across layouts.
    assert_eq!(body("canon_a").as_ptr(), body("canon_b").as_ptr());
    assert_eq!(body("lw2_a").as_ptr(), body("lw2_b").as_ptr());
    assert_ne!(body("lw2_a"), body("lw1"));
    assert_eq!(Envelope::from_slice(&body("canon_a")).unwrap(), envelope);
    let lw: serde_json::Value = serde_json::from_slice(&body("lw2_a")).unwrap();
    assert_eq!(
        (lw["version"].clone(), lw["type"].clone()),
        (serde_json::json!(2), serde_json::json!("courseCompleted"))
    );
    let parsed = Profile::learnworlds("s1")
        .parse(at(T0), &body("lw2_a"), None)
        .unwrap();
    assert_eq!(parsed.event(), envelope.event());
    let lw1: serde_json::Value = serde_json::from_slice(&body("lw1")).unwrap();
    assert_eq!(lw1["version"], 1);
    // The layout survives serde with the endpoint.
    let e: Endpoint = serde_json::from_str(&serde_json::to_string(&endpoints[1]).unwrap()).unwrap();
    assert_eq!(e.layout(), &v2);
}

#[test]
fn url_errors_escape_control_characters() {
    // A URL typed into an admin form with a line break must not start a new log line when
    // its error is logged, nor carry terminal escapes.
    for url in [
        "https://a.example.com/\nERROR forged log line",
        "https://a.example.com/\r\n\u{1b}[31mred",
        "https://exa\u{7}mple.com/",
    ] {
        let e = UrlPolicy::new().check(url).unwrap_err();
        let text = e.to_string();
        assert!(!text.chars().any(char::is_control), "{url:?} gave {text:?}");
        assert!(text.contains("\\n") || text.contains("\\u{7}"), "{text}");
    }
}
