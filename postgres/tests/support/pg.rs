//! A private PostgreSQL for the tests: `initdb` and `pg_ctl` from the installed server (Debian's
//! `postgresql` package), in a temporary directory, on a free loopback port, run as the
//! `postgres` user when the tests run as root; stopped and removed when dropped. With
//! `DATABASE_URL` set, that server is used instead. Without either, the tests fail and say how
//! to install PostgreSQL: they never pass silently.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Pg {
    /// The server's data directory and binaries, when the tests started it.
    own: Option<(PathBuf, PathBuf)>,
    url: String,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

fn bin_dir() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.flatten().map(|d| d.path().join("bin")).collect())
        .unwrap_or_default();
    candidates.sort();
    if let Some(dir) = candidates
        .into_iter()
        .rev()
        .find(|d| d.join("initdb").exists())
    {
        return dir;
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    panic!(
        "PostgreSQL is not installed, and these tests need a real server: install it \
         (`apt-get install postgresql`; the tests start a private one themselves) or set \
         DATABASE_URL to a database they may use"
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a PostgreSQL binary, as `postgres` when root (the server refuses to run as root).
fn run(bin: &Path, tool: &str, args: &[&str]) {
    let program = bin.join(tool);
    let status = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
    } else {
        Command::new(&program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
    }
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(status.success(), "{tool} {args:?} failed: {status}");
}

impl Pg {
    pub fn start() -> Pg {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            return Pg { own: None, url };
        }
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "lmsw-pg-{}-{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot hand {} to the postgres user", dir.display());
        }
        let data = dir.join("data");
        let data_s = data.to_str().unwrap();
        run(
            &bin,
            "initdb",
            &["-D", data_s, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            dir.display()
        );
        let log = dir.join("server.log");
        run(
            &bin,
            "pg_ctl",
            &[
                "-D",
                data_s,
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        Pg {
            own: Some((dir, bin)),
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        }
    }

    /// The server's URL (its `postgres` database).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new, empty database on the server; its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!(
            "lmsw_test_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
        // The name is ours: digits and underscores.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        match self.url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => self.url.clone(),
        }
    }

    /// `pg_dump` of a database, as text.
    pub fn dump(&self, url: &str) -> Vec<u8> {
        let bin = match &self.own {
            Some((_, bin)) => bin.clone(),
            None => bin_dir(),
        };
        let out = Command::new(bin.join("pg_dump"))
            .arg(url)
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some((dir, bin)) = self.own.take() {
            let data = dir.join("data");
            let program = bin.join("pg_ctl");
            let args = [
                "-D",
                data.to_str().unwrap_or(""),
                "-m",
                "immediate",
                "-w",
                "stop",
            ];
            let quiet = std::process::Stdio::null;
            let _ = if is_root() {
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(&program)
                    .args(args)
                    .stdout(quiet())
                    .status()
            } else {
                Command::new(&program).args(args).stdout(quiet()).status()
            };
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
