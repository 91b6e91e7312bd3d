//! `webhook send --state FILE --attempts N`: a delivery kept in a file between runs, signed
//! in every run with the secrets given then; and the flags added around it (`--schedule`,
//! secrets from files and the environment, non-UTF-8 arguments).

#[path = "support/cli.rs"]
mod cli;
#[path = "support/secrets.rs"]
mod secrets;

use std::time::Duration;

use cli::{json_lines, recording_server, run, run_with_env, stdout};
use lms_webhooks::{Scheme, Secret, Timestamp, Verifier};

const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const KEY: &str = "Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a";
const ENVELOPE: &[u8] =
    br#"{"id":"evt_state_1","type":"webhook.test","timestamp":"2026-11-23T09:30:00Z","data":{}}"#;

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lms-webhooks-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// `send` to a loopback URL (so `--allow-http --allow-private`), with more flags.
fn loopback_send<'a>(url: &'a str, flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["send", "--url", url, "--allow-http", "--allow-private"];
    args.extend_from_slice(flags);
    args
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap()
}

#[test]
fn a_resumed_delivery_goes_to_the_url_given_now_signed_with_the_secret_given_now() {
    let (base, seen) = recording_server(vec![500, 200]);
    let state = temp("rotate.json");
    let state_arg = state.to_str().unwrap();
    let first_url = format!("{base}/v1/hooks");
    let o = run(
        &loopback_send(
            &first_url,
            &[
                "--scheme",
                "standard",
                "--secret",
                OLD,
                "--schedule",
                "learnybox",
                "--state",
                state_arg,
                "--attempts",
                "1",
            ],
        ),
        ENVELOPE,
    );
    assert_eq!(o.status.code(), Some(3), "still pending: {o:?}");
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0]["status"].as_u64(), lines[0]["result"].as_str()),
        (Some(500), Some("retry"))
    );
    let first = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first.path, "/v1/hooks");

    // The file holds the delivery, and nothing secret.
    let stored = std::fs::read(&state).unwrap();
    assert!(String::from_utf8_lossy(&stored).starts_with("{\"format\":1,"));
    secrets::assert_holds_none_of(
        &stored,
        Secret::parse(OLD).unwrap().expose_bytes(),
        "old secret",
    );
    assert!(
        !String::from_utf8_lossy(&stored).contains("127.0.0.1"),
        "no URL"
    );

    // The admin rotated the secret and moved the endpoint; the next run resumes the file
    // (stdin is ignored) and signs with what it is given now.
    let second_url = format!("{base}/v2/hooks");
    let o = run(
        &loopback_send(
            &second_url,
            &[
                "--scheme",
                "standard",
                "--secret",
                NEW,
                "--schedule",
                "learnybox",
                "--state",
                state_arg,
                "--speedup",
                "600",
            ],
        ),
        b"ignored: the delivery comes from the state file",
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let lines = json_lines(&o);
    assert_eq!(
        (lines[0]["attempt"].as_u64(), lines[0]["result"].as_str()),
        (Some(2), Some("delivered"))
    );
    let retry = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(retry.path, "/v2/hooks");
    assert_eq!(retry.body, ENVELOPE);
    assert_eq!(header(&retry.headers, "webhook-id"), "evt_state_1");
    let ts: i64 = header(&retry.headers, "webhook-timestamp").parse().unwrap();
    let at = Timestamp::from_unix(ts).unwrap();
    let new_only = Verifier::new(Scheme::standard(), [Secret::parse(NEW).unwrap()]);
    let old_only = Verifier::new(Scheme::standard(), [Secret::parse(OLD).unwrap()]);
    assert!(new_only.verify(at, &retry.headers, &retry.body).is_ok());
    assert!(old_only.verify(at, &retry.headers, &retry.body).is_err());

    // A finished delivery stays finished: running again sends nothing and exits 0.
    let o = run(
        &loopback_send(
            &second_url,
            &[
                "--scheme", "standard", "--secret", NEW, "--state", state_arg,
            ],
        ),
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(o.stdout.is_empty());
}

#[test]
fn the_state_file_never_holds_the_encryption_key_and_gave_up_exits_1() {
    let (base, _seen) = recording_server(vec![500; 5]);
    let state = temp("key.json");
    let url = format!("{base}/hooks");
    let args = [
        "send",
        "--url",
        &url,
        "--allow-http",
        "--allow-private",
        "--scheme",
        "hex",
        "--secret",
        "a-plain-shared-secret",
        "--key",
        KEY,
        "--schedule",
        "learnybox",
        "--speedup",
        "36000",
        "--state",
        state.to_str().unwrap(),
        "--attempts",
        "3",
    ];
    let o = run(&args, ENVELOPE);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(json_lines(&o).len(), 3);
    let stored = std::fs::read(&state).unwrap();
    secrets::assert_holds_none_of(&stored, KEY.as_bytes(), "key");
    secrets::assert_holds_none_of(&stored, b"a-plain-shared-secret", "hex secret");
    // Two more attempts exhaust the Learnybox schedule.
    let o = run(&args, b"");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["attempt"], 5);
    assert_eq!(lines[1]["result"], "gave_up");
}

#[test]
fn a_state_file_that_does_not_load_is_an_error_and_stays_as_it_was() {
    let state = temp("bad.json");
    let (base, _seen) = recording_server(vec![200]);
    let url = format!("{base}/hooks");
    for bad in [
        &b"{not json"[..],
        br#"{"format":99}"#,
        br#"{"format":1,"event_id":"e"}"#,
    ] {
        std::fs::write(&state, bad).unwrap();
        let o = run(
            &loopback_send(
                &url,
                &[
                    "--scheme",
                    "standard",
                    "--secret",
                    OLD,
                    "--state",
                    state.to_str().unwrap(),
                ],
            ),
            ENVELOPE,
        );
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        assert!(o.stdout.is_empty());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("--state"), "{err}");
        assert_eq!(std::fs::read(&state).unwrap(), bad, "never overwritten");
    }
    std::fs::write(&state, br#"{"format":99}"#).unwrap();
    let o = run(
        &loopback_send(
            &url,
            &[
                "--scheme",
                "standard",
                "--secret",
                OLD,
                "--state",
                state.to_str().unwrap(),
            ],
        ),
        ENVELOPE,
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("format version 99"));
}

#[test]
fn policy_is_a_deprecated_alias_of_schedule() {
    let (base, _seen) = recording_server(vec![500, 200]);
    let url = format!("{base}/hooks");
    let o = run(
        &loopback_send(
            &url,
            &[
                "--scheme",
                "standard",
                "--secret",
                OLD,
                "--policy",
                "learnybox",
                "--speedup",
                "600",
            ],
        ),
        ENVELOPE,
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(json_lines(&o)[0]["delay"], 60.0, "the Learnybox schedule");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--policy is deprecated"));
    let o = run(
        &loopback_send(
            &url,
            &[
                "--scheme",
                "standard",
                "--secret",
                OLD,
                "--schedule",
                "weekly",
            ],
        ),
        ENVELOPE,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--schedule `weekly`"));
    let o = run(
        &loopback_send(
            &url,
            &["--scheme", "standard", "--secret", OLD, "--attempts", "0"],
        ),
        ENVELOPE,
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn secrets_and_keys_come_from_files_and_the_environment_too() {
    let body = br#"{"test": 2432232314}"#;
    let sign = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "sign",
            "--scheme",
            "standard",
            "--id",
            "msg_1",
            "--timestamp",
            "1700000000",
        ];
        args.extend_from_slice(extra);
        let o = run_with_env(&args, body, env);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        stdout(&o)
    };
    let direct = sign(&["--secret", OLD], &[]);
    let file = temp("secret.txt");
    std::fs::write(&file, format!("{OLD}\n")).unwrap();
    assert_eq!(
        sign(&["--secret-file", file.to_str().unwrap()], &[]),
        direct
    );
    assert_eq!(
        sign(
            &["--secret-env", "LMS_TEST_SECRET"],
            &[("LMS_TEST_SECRET", OLD)]
        ),
        direct
    );
    let o = run(
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret-env",
            "LMS_NOT_SET_ANYWHERE",
        ],
        body,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("LMS_NOT_SET_ANYWHERE"));

    let key_file = temp("key.txt");
    std::fs::write(&key_file, KEY).unwrap();
    let enc = |extra: &[&str]| {
        let mut args = vec!["encrypt", "--iv", "000102030405060708090a0b0c0d0e0f"];
        args.extend_from_slice(extra);
        let o = run(&args, b"hello");
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        o.stdout
    };
    assert_eq!(
        enc(&["--key-file", key_file.to_str().unwrap()]),
        enc(&["--key", KEY])
    );
}

#[cfg(unix)]
#[test]
fn a_non_utf8_argument_is_an_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"--secret=\xff\xfe");
    let o = std::process::Command::new(cli::binary())
        .arg("sign")
        .arg(bad)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not valid UTF-8"), "{err}");
    assert!(!err.contains("panicked"));
}
