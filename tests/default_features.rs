//! The crate on its default features, as a receiver-only app links it: every test here builds
//! and runs a small app outside this workspace (whose own tests turn more features on), so
//! that what the features leave out is checked where it is left out.

use std::path::{Path, PathBuf};
use std::process::Command;

use lms_webhooks::{EncryptionKey, Endpoint, Timestamp, UrlPolicy};

/// The app: each line of its output is one check's answer.
const MAIN: &str = r##"
use lms_webhooks::{Endpoint, Profile, Receiver, Secret, SecretError, Timestamp};

fn main() {
    let mut args = std::env::args().skip(1);
    let (clear, encrypted) = (args.next().unwrap(), args.next().unwrap());
    // Standard Webhooks v1 verifies.
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let verifier = lms_webhooks::Verifier::new(lms_webhooks::Scheme::standard(), [secret]);
    let headers = [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
    ];
    let at = Timestamp::from_unix(1_614_265_330).unwrap();
    let body = br#"{"test": 2432232314}"#;
    println!("v1 verifies: {}", verifier.verify(at, &headers[..], body).is_ok());
    // v1a keys are refused, naming the feature.
    let v1a = Secret::parse("whpk_MCowBQYDK2VwAyEA");
    println!("v1a: {}", matches!(v1a, Err(SecretError::NeedsFeature { feature: "v1a", .. })));
    // An endpoint stored in the clear reads; one stored with a key is refused, naming the feature.
    println!("clear endpoint: {}", serde_json::from_str::<Endpoint>(&clear).is_ok());
    match serde_json::from_str::<Endpoint>(&encrypted) {
        Ok(_) => println!("encrypted endpoint: read"),
        Err(e) => println!("encrypted endpoint: {e}"),
    }
    // A receiver for an encrypted profile refuses every request as misconfigured.
    let no_headers: Vec<(String, String)> = Vec::new();
    let got = Receiver::new(Profile::learnybox()).receive(Timestamp::now(), &no_headers, b"{}");
    println!("learnybox: {}", got.unwrap_err());
}
"##;

/// Builds (once per run of this binary's tests, incrementally across runs) and runs the app.
fn run_app(args: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("default-features-app");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"default-features-app\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         publish = false\n\n[dependencies]\nlms-webhooks = {{ path = {:?} }}\nserde_json = \"1\"\n\n\
         [workspace]\n",
        root.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/main.rs"), MAIN).unwrap();
    // The workspace's lock file pins the same versions, all downloaded by the workspace's build.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["run", "--quiet", "--"])
        .args(args)
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the default-features app failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn default_features_leave_encryption_out_and_say_so() {
    let now = Timestamp::from_unix(1_795_420_800).unwrap();
    let (endpoint, _) =
        Endpoint::create(now, "crm", "https://crm.example.com/in", &UrlPolicy::new()).unwrap();
    let clear = serde_json::to_string(&endpoint).unwrap();
    let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap();
    let encrypted = serde_json::to_string(&endpoint.with_encryption(key)).unwrap();
    assert!(encrypted.contains("\"encryption\""), "{encrypted}");

    let out = run_app(&[&clear, &encrypted]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "v1 verifies: true", "{out}");
    assert_eq!(lines[1], "v1a: true", "{out}");
    assert_eq!(lines[2], "clear endpoint: true", "{out}");
    assert!(
        lines[3].starts_with("encrypted endpoint: ") && lines[3].contains("`encryption` feature"),
        "an endpoint stored with a key must not be read as one that sends in the clear: {out}"
    );
    assert_eq!(
        lines[4],
        "learnybox: the receiver is misconfigured: an encrypted profile needs lms-webhooks' \
         `encryption` feature",
        "{out}"
    );
}
