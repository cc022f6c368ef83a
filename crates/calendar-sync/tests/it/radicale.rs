//! A real CalDAV server for tests: Radicale, started on a free loopback
//! port with its own users file and storage folder, and seeded over
//! CalDAV itself as a calendar app would. Shared by this crate's tests and
//! the server's (which include this file by path).
//!
//! `radicale` comes from `BOOKWARDEN_TEST_RADICALE` or `PATH` (`.ci/run`
//! installs it into a virtualenv). Without it the tests are skipped with a
//! printed reason, except under CI (`CI` set), where that is a failure.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) const USER: &str = "sam";
pub(crate) const PASSWORD: &str = "app-specific-7731";

pub(crate) struct Radicale {
    child: Child,
    folder: PathBuf,
    pub(crate) base: String,
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

fn radicale_command() -> Option<String> {
    let candidate =
        std::env::var("BOOKWARDEN_TEST_RADICALE").unwrap_or_else(|_| "radicale".to_owned());
    let works = Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    works.then_some(candidate)
}

/// A fresh Radicale with users `sam` and `olu`, or `None` (skipped) where
/// it is not installed outside CI.
pub(crate) async fn radicale() -> Option<Radicale> {
    let Some(command) = radicale_command() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "radicale is required under CI; .ci/run installs it"
        );
        eprintln!("SKIPPING CalDAV tests: `radicale` is not installed (pip install radicale)");
        return None;
    };
    let folder = std::env::temp_dir().join(format!(
        "bookwarden-radicale-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&folder).unwrap();
    let users = folder.join("users");
    std::fs::write(&users, format!("{USER}:{PASSWORD}\nolu:other-secret-9\n")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(command)
        .args(["--server-hosts", &format!("127.0.0.1:{port}")])
        .args(["--auth-type", "htpasswd"])
        .args(["--auth-htpasswd-filename", users.to_str().unwrap()])
        .args(["--auth-htpasswd-encryption", "plain"])
        .args([
            "--storage-filesystem-folder",
            folder.join("collections").to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Radicale {
        child,
        folder,
        base: format!("http://127.0.0.1:{port}/"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(server);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("radicale did not start on port {port}");
}

/// Writes through CalDAV as a calendar app would.
pub(crate) async fn seed(
    server: &Radicale,
    user: &str,
    password: &str,
    path: &str,
    files: &[(&str, String)],
) {
    let http = reqwest::Client::new();
    let collection = format!("{}{user}/{path}/", server.base);
    let made = http
        .request(
            reqwest::Method::from_bytes(b"MKCALENDAR").unwrap(),
            &collection,
        )
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 201, "MKCALENDAR {collection}");
    for (name, text) in files {
        let put = http
            .put(format!("{collection}{name}.ics"))
            .basic_auth(user, Some(password))
            .header("Content-Type", "text/calendar")
            .body(text.clone())
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "PUT {name}: {}", put.status());
    }
}
