//! The `webhook` debugging CLI, driven from outside as users script it.

#[path = "support/cli.rs"]
mod cli;

use std::process::Output;

use cli::{json_lines, run, scripted_server, stdout};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &[u8] = br#"{"test": 2432232314}"#;

#[test]
fn sign_standard_prints_the_spec_headers() {
    let o = run(
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret",
            SECRET,
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
        ],
        BODY,
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        stdout(&o),
        "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\n\
         webhook-timestamp: 1614265330\n\
         webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n"
    );
    let svix = run(
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret",
            SECRET,
            "--id",
            "m",
            "--timestamp",
            "1",
            "--prefix",
            "svix",
        ],
        BODY,
    );
    assert!(stdout(&svix).starts_with("svix-id: m\nsvix-timestamp: 1\nsvix-signature: v1,"));
}

#[test]
fn sign_hex_and_token() {
    let o = run(
        &[
            "sign",
            "--scheme",
            "hex",
            "--secret",
            "It's a Secret to Everybody",
            "--header",
            "X-Hub-Signature-256",
            "--value-prefix",
            "sha256=",
        ],
        b"Hello, World!",
    );
    assert_eq!(
        stdout(&o),
        "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n"
    );
    let o = run(
        &[
            "sign",
            "--scheme",
            "token",
            "--secret",
            "v1=0123456789abcdef0123",
            "--header",
            "Learnworlds-Webhook-Signature",
        ],
        b"{}",
    );
    assert_eq!(
        stdout(&o),
        "Learnworlds-Webhook-Signature: v1=0123456789abcdef0123\n"
    );
}

/// Signs with the CLI, then verifies the printed headers with the CLI.
fn sign_then_verify(scheme: &[&str], verify_extra: &[&str], body: &[u8]) -> Output {
    let signed = run(
        &[&["sign"][..], scheme, &["--timestamp", "1700000000"]].concat(),
        body,
    );
    assert_eq!(signed.status.code(), Some(0), "{signed:?}");
    let lines = stdout(&signed);
    let mut args: Vec<&str> = [&["verify"][..], scheme, verify_extra].concat();
    for line in lines.lines() {
        args.push("-H");
        args.push(line);
    }
    run(&args, body)
}

#[test]
fn verify_accepts_what_sign_printed() {
    let body = br#"{"type":"webhook.test"}"#;
    let schemes: [&[&str]; 3] = [
        &["--scheme", "standard", "--secret", SECRET],
        &[
            "--scheme",
            "hex",
            "--secret",
            "abcdefghijklmnopqrstuvwxyz012345",
        ],
        &["--scheme", "token", "--secret", "v1=0123456789abcdef0123"],
    ];
    for scheme in schemes {
        let o = sign_then_verify(scheme, &["--now", "1700000100"], body);
        assert_eq!(o.status.code(), Some(0), "{scheme:?}: {o:?}");
        assert_eq!(stdout(&o), "valid\n");
    }
}

#[test]
fn verify_failures_exit_1_with_the_error_on_stderr() {
    let standard = ["--scheme", "standard", "--secret", SECRET];
    // Too late (tolerance + 1), then accepted with a wider tolerance or none.
    let o = sign_then_verify(&standard, &["--now", "1700000301"], BODY);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("old"), "{o:?}");
    let o = sign_then_verify(
        &standard,
        &["--now", "1700000301", "--tolerance", "400"],
        BODY,
    );
    assert_eq!(o.status.code(), Some(0));
    let o = sign_then_verify(
        &standard,
        &["--now", "1800000000", "--ignore-timestamp"],
        BODY,
    );
    assert_eq!(o.status.code(), Some(0));

    // A different body.
    let signed = run(
        &[&["sign"][..], &standard, &["--timestamp", "1700000000"]].concat(),
        BODY,
    );
    let mut args = vec![
        "verify",
        "--scheme",
        "standard",
        "--secret",
        SECRET,
        "--now",
        "1700000000",
    ];
    let lines = stdout(&signed);
    for line in lines.lines() {
        args.extend(["-H", line]);
    }
    let o = run(&args, br#"{"test": 2432232315}"#);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not match"));

    // Rotation: the second secret matches.
    let mut rotated = args.clone();
    rotated.splice(
        4..5,
        ["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "--secret", SECRET],
    );
    assert_eq!(run(&rotated, BODY).status.code(), Some(0));
}

#[test]
fn bad_input_exits_1() {
    for args in [
        &[][..],
        &["bogus"][..],
        &["sign", "--scheme", "rsa", "--secret", SECRET][..],
        &["sign", "--scheme", "standard", "--secret", "short"][..],
        &["sign", "--scheme", "standard"][..],
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret",
            SECRET,
            "--timestamp",
            "soon",
        ][..],
        &[
            "sign", "--scheme", "standard", "--secret", SECRET, "--tpyo", "x",
        ][..],
        &[
            "verify", "--scheme", "standard", "--secret", SECRET, "-H", "no colon",
        ][..],
        &["verify", "--scheme", "standard", "--secret", SECRET][..],
        &[
            "verify",
            "--scheme",
            "hex",
            "--secret",
            SECRET,
            "--header",
            "bad header",
        ][..],
    ] {
        let o = run(args, BODY);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
        assert!(!o.stderr.is_empty(), "{args:?}");
    }
    let help = run(&["help"], b"");
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("webhook verify"));
}

/// A mistyped prefix is refused on sign and on verify, naming the expected prefix, and an
/// unprefixed Standard secret that is not base64 says so (the reference libraries refuse
/// both; taken as raw keys, every signature would silently differ).
#[test]
fn mistyped_secret_prefixes_and_non_base64_standard_secrets_exit_1_with_the_reason() {
    let key = &SECRET["whsec_".len()..];
    for (given, expected) in [
        (format!("hwsec_{key}"), "`whsec_`"),
        (format!("Whsec_{key}"), "`whsec_`"),
        (format!("whsec-{key}"), "`whsec_`"),
        ("not base64, and long enough!".to_owned(), "not base64"),
    ] {
        for verb in ["sign", "verify"] {
            let mut args = vec![verb, "--scheme", "standard", "--secret", &given];
            if verb == "verify" {
                args.extend([
                    "-H",
                    "webhook-id: msg_1",
                    "-H",
                    "webhook-timestamp: 1614265330",
                ]);
                args.extend(["-H", "webhook-signature: v1,AAAA", "--now", "1614265330"]);
            }
            let o = run(&args, BODY);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(stderr.contains(expected), "{args:?}: {stderr}");
        }
    }
    // The same key without its prefix is read as base64, as the references read it.
    let plain = run(
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret",
            key,
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
        ],
        BODY,
    );
    let with = run(
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret",
            SECRET,
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
        ],
        BODY,
    );
    assert_eq!(plain.status.code(), Some(0), "{plain:?}");
    assert_eq!(stdout(&plain), stdout(&with));
}

/// The OpenSSL-made vector for the envelope plaintext (tests/vectors/encryption/openssl.tsv).
fn envelope_vector() -> (String, String, Vec<u8>, String) {
    let line = include_str!("vectors/encryption/openssl.tsv")
        .lines()
        .find(|l| l.starts_with("envelope\t"))
        .unwrap();
    let f: Vec<&str> = line.split('\t').collect();
    let key: Vec<u8> = (0..f[1].len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&f[1][i..i + 2], 16).unwrap())
        .collect();
    let plaintext: Vec<u8> = (0..f[3].len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&f[3][i..i + 2], 16).unwrap())
        .collect();
    let body = format!(r#"{{"iv":"{}","value":"{}","mac":"{}"}}"#, f[4], f[5], f[6]);
    (
        String::from_utf8(key).unwrap(),
        f[2].to_owned(),
        plaintext,
        body,
    )
}

#[test]
fn encrypt_with_a_fixed_iv_matches_openssl_and_decrypt_reverses_it() {
    let (key, iv, plaintext, body) = envelope_vector();
    let o = run(&["encrypt", "--key", &key, "--iv", &iv], &plaintext);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(stdout(&o), body);
    let o = run(&["decrypt", "--key", &key], body.as_bytes());
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(o.stdout, plaintext);
    // A fresh IV each time without --iv, and still decryptable.
    let a = run(&["encrypt", "--key", &key], &plaintext);
    let b = run(&["encrypt", "--key", &key], &plaintext);
    assert_ne!(a.stdout, b.stdout);
    assert_eq!(
        run(&["decrypt", "--key", &key], &a.stdout).stdout,
        plaintext
    );
}

#[test]
fn decrypt_refuses_tampering_and_bad_keys_with_exit_1() {
    let (key, _, _, body) = envelope_vector();
    let tampered = body.replacen("\"value\":\"", "\"value\":\"AAAA", 1);
    for (args, input) in [
        (vec!["decrypt", "--key", key.as_str()], tampered.as_bytes()),
        (
            vec!["decrypt", "--key", key.as_str()],
            b"not json".as_slice(),
        ),
        (vec!["decrypt", "--key", "too-short"], body.as_bytes()),
        (vec!["decrypt"], body.as_bytes()),
        (
            vec!["encrypt", "--key", key.as_str(), "--iv", "xyz"],
            b"x".as_slice(),
        ),
    ] {
        let o = run(&args, input);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
        assert!(!o.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn send_retries_on_the_schedule_and_exits_0_once_delivered() {
    let url = scripted_server(vec![500, 503, 200]);
    let started = std::time::Instant::now();
    let o = run(
        &[
            "send",
            "--url",
            &url,
            "--allow-http",
            "--allow-private",
            "--scheme",
            "standard",
            "--secret",
            SECRET,
            "--policy",
            "learnybox",
            "--speedup",
            "600",
        ],
        br#"{"type":"webhook.test"}"#,
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["attempt"], 1);
    assert_eq!(lines[0]["status"], 500);
    assert_eq!(lines[0]["delay"], 60.0);
    assert_eq!(lines[0]["result"], "retry");
    assert_eq!(lines[1]["status"], 503);
    assert_eq!(lines[1]["delay"], 300.0);
    assert_eq!(lines[2]["status"], 200);
    assert_eq!(lines[2]["result"], "delivered");
    assert!(lines[2]["delay"].is_null());
    // 60 s + 300 s at 600× is 0.6 s of waiting.
    assert!(started.elapsed() >= std::time::Duration::from_millis(600));
}

#[test]
fn send_gives_up_with_exit_1() {
    let url = scripted_server(vec![500; 5]);
    let o = run(
        &[
            "send",
            "--url",
            &url,
            "--allow-http",
            "--allow-private",
            "--scheme",
            "hex",
            "--secret",
            SECRET,
            "--policy",
            "learnybox",
            "--speedup",
            "36000",
            "--success",
            "exactly-200",
        ],
        b"{}",
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["result"], "gave_up");
    assert!(String::from_utf8_lossy(&o.stderr).contains("gave up"));
}

#[test]
fn send_refuses_urls_the_policy_refuses_and_bad_flags() {
    let url = scripted_server(vec![200]);
    for args in [
        vec![
            "send",
            "--url",
            url.as_str(),
            "--scheme",
            "standard",
            "--secret",
            SECRET,
        ],
        vec![
            "send",
            "--url",
            url.as_str(),
            "--allow-http",
            "--scheme",
            "standard",
            "--secret",
            SECRET,
        ],
        vec![
            "send",
            "--url",
            url.as_str(),
            "--allow-http",
            "--allow-private",
            "--scheme",
            "standard",
            "--secret",
            SECRET,
            "--policy",
            "weekly",
        ],
        vec![
            "send",
            "--url",
            url.as_str(),
            "--allow-http",
            "--allow-private",
            "--scheme",
            "standard",
            "--secret",
            SECRET,
            "--speedup",
            "0",
        ],
        vec![
            "send",
            "--url",
            "ftp://example.com/",
            "--allow-http",
            "--scheme",
            "standard",
            "--secret",
            SECRET,
        ],
    ] {
        let o = run(&args, b"{}");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn check_url_prints_ok_or_the_reason() {
    let o = run(&["check-url", "https://hooks.example.com/lms"], b"");
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "ok\n"));
    for (url, reason) in [
        ("https://0x7f.1/", "loopback"),
        ("https://169.254.169.254/latest", "link-local"),
        ("http://hooks.example.com/", "scheme"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://[::ffff:10.0.0.1]/", "private"),
        ("https://metadata.google.internal/", "internal"),
    ] {
        let o = run(&["check-url", url], b"");
        assert_eq!(o.status.code(), Some(1), "{url}");
        assert!(o.stdout.is_empty());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(reason),
            "{url}: {o:?}"
        );
    }
    let o = run(
        &[
            "check-url",
            "http://127.0.0.1:9/",
            "--allow-http",
            "--allow-private",
        ],
        b"",
    );
    assert_eq!(stdout(&o), "ok\n");
    let o = run(&["check-url", "http://127.0.0.1:9/", "--allow-http"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(run(&["check-url"], b"").status.code(), Some(1));
}

#[test]
fn receive_prints_type_id_and_canonical_payload() {
    let body = br#"{"id":"evt_42","type":"course.quiz.passed","timestamp":"2026-11-23T09:30:00Z","data":{"member":{"id":"u1"},"quiz":{"id":"q1"},"score":16,"max_score":20}}"#;
    let signed = run(
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret",
            SECRET,
            "--id",
            "evt_42",
            "--timestamp",
            "1700000000",
        ],
        body,
    );
    let mut args = vec![
        "receive",
        "--profile",
        "standard",
        "--secret",
        SECRET,
        "--now",
        "1700000030",
    ];
    let lines = stdout(&signed);
    for line in lines.lines() {
        args.extend(["-H", line]);
    }
    let o = run(&args, body);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("course.quiz.passed"));
    assert_eq!(lines.next(), Some("evt_42"));
    let data: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(data["score"], 16);
    assert_eq!(data["quiz"]["id"], "q1");

    // Outside the tolerance: exit 1, nothing on stdout.
    let late: Vec<&str> = args
        .iter()
        .map(|a| if *a == "1700000030" { "1700009999" } else { a })
        .collect();
    let o = run(&late, body);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
}

#[test]
fn receive_decrypts_a_learnybox_body() {
    let key = "Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a";
    let plain = br#"{"id":"evt_7","type":"crm.contact.tag_added","timestamp":"2026-11-23T09:30:00Z","data":{"contact":{"email":"a@example.com"},"tags":["vip"]}}"#;
    let encrypted = run(&["encrypt", "--key", key], plain);
    // A minute after it occurred (2026-11-23T09:30:00Z): an unsigned encrypted body is only
    // accepted within its maximum age, so the test names its clock.
    let now = "1795426260";
    let o = run(
        &[
            "receive",
            "--profile",
            "learnybox",
            "--key",
            key,
            "--now",
            now,
        ],
        &encrypted.stdout,
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(stdout(&o).starts_with("crm.contact.tag_added\nevt_7\n"));
    let o = run(
        &[
            "receive",
            "--profile",
            "learnybox",
            "--key",
            "Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5b",
            "--now",
            now,
        ],
        &encrypted.stdout,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("MAC"), "{o:?}");
    let o = run(
        &["receive", "--profile", "moodle", "--secret", SECRET],
        plain,
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn receive_reads_a_learnworlds_body_with_the_school_currency() {
    let token = "v1=8c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f";
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors/platforms/learnworlds/paymentCreated.json"),
    )
    .unwrap();
    let header = format!("Learnworlds-Webhook-Signature: {token}");
    let base = [
        "receive",
        "--profile",
        "learnworlds",
        "--secret",
        token,
        "-H",
        &header,
    ];
    let with = [&base[..], &["--currency", "EUR"]].concat();
    let o = run(&with, &body);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("sales.payment.created"));
    assert!(lines.next().unwrap().starts_with("body_"));
    let data: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        data["amount"],
        serde_json::json!({"amount": 2990, "currency": "EUR"})
    );
    // Without it, the body is still received, as it came (no currency to read the price in).
    let o = run(&base, &body);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = stdout(&o);
    let data: serde_json::Value = serde_json::from_str(out.lines().nth(2).unwrap()).unwrap();
    assert_eq!(data["payment"]["price"], 29.9);
    let o = run(&[&base[..], &["--currency", "EURO"]].concat(), &body);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn sample_prints_the_canonical_envelope() {
    let o = run(&["sample", "sales.payment.created"], b"");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = stdout(&o);
    assert!(out.starts_with(r#"{"id":"evt_01JDX3V4S5Q8K9M2N7P6R5T4W3","type":"sales.payment.created","timestamp":"2026-11-23T09:30:00Z","data":{"#));
    let envelope = lms_webhooks::Envelope::from_slice(out.trim_end().as_bytes()).unwrap();
    assert_eq!(
        envelope.event(),
        &lms_webhooks::Event::sample(lms_webhooks::EventType::SalesPaymentCreated)
    );
    for bad in [
        &["sample"][..],
        &["sample", "sales.nope.x"],
        &["sample", "a.b.c", "d"],
    ] {
        assert_eq!(run(bad, b"").status.code(), Some(1), "{bad:?}");
    }
}

#[cfg(feature = "schema")]
#[test]
fn schema_prints_a_type_schema_or_the_openapi_document() {
    let o = run(&["schema", "course.member.completed"], b"");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let printed: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        printed,
        lms_webhooks::schema::event_schema(lms_webhooks::EventType::CourseMemberCompleted)
    );
    // The same text as the committed file.
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schemas/course.member.completed.json"),
    )
    .unwrap();
    assert_eq!(stdout(&o), committed);

    let o = run(&["schema", "--openapi"], b"");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let api: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(api["webhooks"].as_object().unwrap().len(), 56 + 5);
    // Operational types too, as the committed files have them.
    let o = run(&["schema", "operational.endpoint.failed"], b"");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schemas/operational.endpoint.failed.json"),
    )
    .unwrap();
    assert_eq!(stdout(&o), committed);
    let o = run(&["sample", "operational.delivery.exhausted"], b"");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let sample: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(sample["type"], "operational.delivery.exhausted");
    assert_eq!(sample["data"]["attempts"], 8);
    for bad in [
        &["schema"][..],
        &["schema", "nope.x.y"],
        &["schema", "--openapi", "webhook.test"],
        &["schema", "--yaml"],
    ] {
        assert_eq!(run(bad, b"").status.code(), Some(1), "{bad:?}");
    }
}

/// Output piped into a reader that has gone (`webhook sample … | head -c0`) ends the CLI as it
/// ends Unix tools, by `SIGPIPE`, without a panic's message and exit code 101.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_cli_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(cli::binary())
        .args(["sample", "sales.transaction.completed"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGPIPE), "{o:?}");
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
