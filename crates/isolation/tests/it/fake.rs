//! A fake deployment: just enough of the API for the check (every POST
//! creates, every listing is empty, the slot listing offers eight times),
//! with businesses kept apart: every id and token it issues belongs to the
//! business that asked, and a request naming an id of another business is
//! answered as one naming no id at all (404). A switch makes it leak: then
//! another business's id is answered with that id.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A running fake; dropped with the test's runtime.
pub struct Fake {
    pub url: String,
}

struct Shared {
    leaky: bool,
    state: Mutex<State>,
    /// How many first requests answer 429 with `Retry-After: 1`.
    throttle: Mutex<u32>,
}

/// Who owns what: businesses are numbered as they sign up.
#[derive(Default)]
struct State {
    slugs: BTreeMap<String, usize>,
    /// Every id and token issued, with its business.
    owners: BTreeMap<String, usize>,
}

/// Starts a fake on a random loopback port.
pub async fn start(leaky: bool, throttle_first: u32) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shared = Arc::new(Shared {
        leaky,
        state: Mutex::new(State::default()),
        throttle: Mutex::new(throttle_first),
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = serve(stream, &shared).await;
            });
        }
    });
    Fake { url }
}

async fn serve(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    // Bounded: a request head and body of at most 1 MiB.
    while buffer.len() < 1 << 20 {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&buffer).into_owned();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        if buffer.len() < end + 4 + length {
            continue;
        }
        let mut words = text.split_whitespace();
        let method = words.next().unwrap_or_default().to_owned();
        let path = words.next().unwrap_or_default().to_owned();
        let request_body = String::from_utf8_lossy(&buffer[end + 4..]).into_owned();
        let (status, body) = answer(shared, &method, &path, &text[..end], &request_body);
        let reason = match status {
            200 => "OK",
            201 => "Created",
            204 => "No Content",
            401 => "Unauthorized",
            404 => "Not Found",
            _ => "Too Many Requests",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        return stream.shutdown().await;
    }
    Ok(())
}

fn answer(shared: &Shared, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    {
        let mut throttle = shared.throttle.lock().unwrap();
        if *throttle > 0 {
            *throttle -= 1;
            return (429, r#"{"code":"rate_limited"}"#.to_owned());
        }
    }
    let mut state = shared.state.lock().unwrap();
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let bearer = headers.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().trim_start_matches("Bearer ").to_owned())
    });
    // Whose request this is: the credential's business, the business the
    // sign-in or public path names, or (sign-up, accepting an invitation)
    // the one it makes or joins.
    let slug_in_path = path
        .strip_prefix("/v1/public/")
        .and_then(|rest| rest.split('/').next())
        .map(str::to_owned);
    let tenant = if path == "/v1/signup" {
        let tenant = state.slugs.len();
        let slug = json["slug"].as_str().unwrap_or_default().to_owned();
        state.slugs.insert(slug, tenant);
        Some(tenant)
    } else if path == "/v1/sessions" {
        json["tenant"]
            .as_str()
            .and_then(|s| state.slugs.get(s).copied())
    } else if path == "/v1/invitations/accept" {
        json["token"]
            .as_str()
            .and_then(|t| state.owners.get(t).copied())
    } else if let Some(slug) = slug_in_path {
        state.slugs.get(&slug).copied()
    } else {
        bearer.and_then(|t| state.owners.get(&t).copied())
    };
    let Some(tenant) = tenant else {
        return (401, r#"{"code":"unauthenticated"}"#.to_owned());
    };
    // The ids the request names, in its path or its body.
    let text = format!("{path} {body}");
    let named: Vec<String> = text
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|w| w.len() == 36 && uuid::Uuid::parse_str(w).is_ok())
        .map(str::to_owned)
        .collect();
    let foreign = named
        .iter()
        .find(|id| state.owners.get(*id) != Some(&tenant));
    if let Some(id) = foreign.filter(|_| path != "/v1/invitations/accept") {
        return match state.owners.get(id) {
            // The leak: another business's id is answered.
            Some(_) if shared.leaky => (200, serde_json::json!({ "id": id }).to_string()),
            _ => (404, r#"{"code":"not_found"}"#.to_owned()),
        };
    }
    let mut fresh = || {
        let id = uuid::Uuid::new_v4().to_string();
        state.owners.insert(id.clone(), tenant);
        id
    };
    match method {
        "POST" => {
            let body = serde_json::json!({
                "id": fresh(), "tenant_id": fresh(), "user_id": fresh(),
                "customer_id": fresh(), "token": fresh(),
            });
            (201, body.to_string())
        }
        "DELETE" => (204, String::new()),
        "GET" if path.contains("/slots") => {
            let slots: Vec<_> = (9..17)
                .map(|h| serde_json::json!({ "start": format!("2030-01-07T{h:02}:00:00Z") }))
                .collect();
            (
                200,
                serde_json::json!({ "days": [{ "date": "2030-01-07", "slots": slots }] })
                    .to_string(),
            )
        }
        _ => (200, "{}".to_owned()),
    }
}
